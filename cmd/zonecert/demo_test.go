//go:build unix

package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoScript runs testdata/scripts/demo.sh with its state in dir.
func demoScript(ctx context.Context, t *testing.T, dir string, extra ...string) *exec.Cmd {
	t.Helper()
	bin := binaries(t)
	pebble := os.Getenv("ZONECERT_PEBBLE")
	if pebble == "" {
		t.Skip("ZONECERT_PEBBLE is not set (make test sets it)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "testdata", "scripts", "demo.sh"))
	cmd.Env = append(os.Environ(), "ZONECERT_BIN="+bin, "ZONECERT_PEBBLE="+pebble, "ZONECERT_DEMO_DIR="+dir)
	cmd.Env = append(cmd.Env, extra...)
	return cmd
}

// TestDemoTwice is `make demo` twice in a row in one directory: the second
// run meets the first run's state, made with a CA that no longer exists on
// a port that changed, and must succeed all the same.
func TestDemoTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Pebble and the standalone plugin")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	for i := range 2 {
		out, err := demoScript(ctx, t, dir).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "== the stored certificate") {
			t.Fatalf("demo run %d: %v\n%s", i+1, err, out)
		}
	}
}

// TestPlayground is `make playground`: after the demo the CA keeps running,
// the printed environment works for another command (account show), and
// Ctrl-C (SIGINT) ends it all.
func TestPlayground(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Pebble and the standalone plugin")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cmd := demoScript(ctx, t, dir, "ZONECERT_PLAYGROUND=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()
	var server, bundle string
	sc := bufio.NewScanner(stdout)
	var seen []string
	for sc.Scan() {
		line := sc.Text()
		seen = append(seen, line)
		if v, ok := strings.CutPrefix(line, "SERVER="); ok {
			server = v
		}
		if _, v, ok := strings.Cut(line, "ZONECERT_CA_BUNDLE="); ok {
			bundle = strings.Trim(v, `"`)
		}
		if strings.HasPrefix(line, "zonecert revoke") {
			break
		}
	}
	if server == "" || bundle == "" {
		t.Fatalf("the playground printed no environment:\n%s", strings.Join(seen, "\n"))
	}
	r := zonecert(ctx, t, binaries(t), baseEnv(dir), "account", "show", "--server", server, "--ca-bundle", bundle,
		"--email", "demo@example.com", "--path", filepath.Join(dir, "state"))
	if r.code != 0 || !strings.Contains(r.stdout, "Status:    valid") {
		t.Fatalf("account show against the playground: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Ctrl-C reaches the whole foreground process group.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the playground did not stop on SIGINT")
	}
}
