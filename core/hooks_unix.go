//go:build unix

package core

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// pathSeparators mark a hook's program as a path rather than a PATH name.
const pathSeparators = "/"

// executable checks that p is a file the hooks may run.
func executable(p string) error {
	st, err := os.Stat(p)
	switch {
	case err != nil:
		return err
	case !st.Mode().IsRegular():
		return errors.New("not a regular file")
	case st.Mode().Perm()&0o111 == 0:
		return errors.New("not executable")
	}
	return nil
}

// programNames are the file names a PATH lookup of prog tries.
func programNames(prog string) []string { return []string{prog} }

// hookCommand runs a file directly or a command through /bin/sh -c, in a
// process group of its own that cancellation kills whole.
func hookCommand(ctx context.Context, command string, file bool) *exec.Cmd {
	var c *exec.Cmd
	if file {
		c = exec.CommandContext(ctx, command)
	} else {
		c = exec.CommandContext(ctx, "/bin/sh", "-c", command)
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	return c
}
