package core

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// pathSeparators mark a hook's program as a path rather than a PATH name.
const pathSeparators = `/\`

// runnable are the extensions Windows runs: it has no execute bit.
var runnable = []string{".exe", ".com", ".bat", ".cmd", ".ps1"}

// executable checks that p is a file the hooks may run: a regular file
// with one of the runnable extensions.
func executable(p string) error {
	st, err := os.Stat(p)
	switch {
	case err != nil:
		return err
	case !st.Mode().IsRegular():
		return errors.New("not a regular file")
	}
	for _, ext := range runnable {
		if strings.EqualFold(filepath.Ext(p), ext) {
			return nil
		}
	}
	return errors.New("not executable (want .exe, .com, .bat, .cmd or .ps1)")
}

// programNames are the file names a PATH lookup of prog tries: prog with
// each runnable extension, as cmd.exe's PATHEXT search does.
func programNames(prog string) []string {
	if filepath.Ext(prog) != "" {
		return []string{prog}
	}
	out := make([]string, len(runnable))
	for i, ext := range runnable {
		out[i] = prog + ext
	}
	return out
}

// hookCommand runs a hook ending in .ps1 with PowerShell, another file
// directly and any other command through cmd /C. Cancellation kills the
// whole process tree (taskkill /T), so a timeout stops what it started.
func hookCommand(ctx context.Context, command string, file bool) *exec.Cmd {
	var c *exec.Cmd
	switch {
	case strings.EqualFold(filepath.Ext(command), ".ps1"):
		c = exec.CommandContext(ctx, "powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", command)
	case file && !isBatch(command):
		c = exec.CommandContext(ctx, command)
	default:
		// cmd.exe parses its own command line; /S /C "..." hands it the
		// command verbatim instead of Go's argument quoting.
		c = exec.CommandContext(ctx, "cmd.exe")
		c.SysProcAttr = &syscall.SysProcAttr{CmdLine: `cmd.exe /S /C "` + command + `"`}
	}
	c.Cancel = func() error {
		kill := exec.Command("taskkill.exe", "/T", "/F", "/PID", strconv.Itoa(c.Process.Pid))
		if err := kill.Run(); err != nil {
			return c.Process.Kill()
		}
		return nil
	}
	return c
}

func isBatch(p string) bool {
	ext := filepath.Ext(p)
	return strings.EqualFold(ext, ".bat") || strings.EqualFold(ext, ".cmd")
}
