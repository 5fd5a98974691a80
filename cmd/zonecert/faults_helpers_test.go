package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fault suite (docs/RELIABILITY.md) runs whole with `make faults`
// (ZONECERT_FAULTS=1); `make test` runs the cases marked fast.
func faultCase(t *testing.T, fast bool) {
	t.Helper()
	if testing.Short() {
		t.Skip("fault suite: needs BIND9, Pebble and root")
	}
	if !fast && os.Getenv("ZONECERT_FAULTS") == "" {
		t.Skip("fault suite: run make faults (ZONECERT_FAULTS=1)")
	}
}

// copyPlugin copies a plugin binary into a directory of this test, so the
// processes it runs can be told from every other test's (see pluginProcs).
func copyPlugin(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o700); err != nil {
		t.Fatal(err)
	}
	return dst
}

// pluginProcs lists the pids of live processes running the binary at path.
func pluginProcs(path string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != path {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
				continue // a zombie is dead; its parent reaps it
			}
		}
		out = append(out, pid)
	}
	return out
}

// noPluginLeft waits (bounded) for every process of the plugin binary at
// path to be gone: a plugin dies with its host, through the kernel's
// parent-death signal and the SDK's watchdog.
func noPluginLeft(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pids := pluginProcs(path)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("plugin processes left running: %v (%s)", pids, path)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nothingLeft asserts what every fault case promises afterwards: no TXT at
// the challenge names, an empty journal, and in live/ and archive/ only
// complete certificate sets (no temp files, no dangling link).
func (e *e2eEnv) nothingLeft(ctx context.Context, t *testing.T, state string, txt ...string) {
	t.Helper()
	for _, n := range txt {
		e.noTXT(ctx, t, n)
	}
	ents, err := os.ReadDir(filepath.Join(state, "journal"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, en := range ents {
		b, _ := os.ReadFile(filepath.Join(state, "journal", en.Name()))
		t.Errorf("journal entry left: %s: %s", en.Name(), b)
	}
	completeSets(t, state)
}

// completeSets checks live/ and archive/: every version directory holds the
// four files, every live link points at one, and no temp file is left.
func completeSets(t *testing.T, state string) {
	t.Helper()
	files := []string{"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"}
	names, _ := os.ReadDir(filepath.Join(state, "archive"))
	for _, n := range names {
		versions, _ := os.ReadDir(filepath.Join(state, "archive", n.Name()))
		for _, v := range versions {
			if strings.HasPrefix(v.Name(), ".") {
				t.Errorf("temp directory left: archive/%s/%s", n.Name(), v.Name())
				continue
			}
			for _, f := range files {
				if fi, err := os.Stat(filepath.Join(state, "archive", n.Name(), v.Name(), f)); err != nil || fi.Size() == 0 {
					t.Errorf("archive/%s/%s/%s incomplete: %v", n.Name(), v.Name(), f, err)
				}
			}
		}
	}
	live, _ := os.ReadDir(filepath.Join(state, "live"))
	for _, l := range live {
		if strings.HasPrefix(l.Name(), ".") {
			t.Errorf("temp file left: live/%s", l.Name())
			continue
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(state, "live", l.Name(), f)); err != nil {
				t.Errorf("live/%s/%s: %v", l.Name(), f, err)
			}
		}
	}
}

// runKilled runs zonecert and SIGKILLs it when a line of its stderr
// matches; it returns whether it did and everything zonecert wrote.
func runKilled(ctx context.Context, t *testing.T, bin string, env []string, match func(string) bool, args ...string) (bool, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "zonecert"), args...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	killed := false
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if !killed && match(sc.Text()) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	_, _ = io.Copy(io.Discard, stderr)
	_ = cmd.Wait()
	return killed, log.String()
}

// stageLine matches a progress line of stage (slog text: stage=<stage>)
// holding every extra fragment.
func stageLine(stage string, extra ...string) func(string) bool {
	return func(l string) bool {
		if !strings.Contains(l, "stage="+stage+" ") && !strings.HasSuffix(l, "stage="+stage) {
			return false
		}
		for _, x := range extra {
			if !strings.Contains(l, x) {
				return false
			}
		}
		return true
	}
}
