//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: what the user types goes into
// master, the program reads it from slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestDeletePromptNo: answering "n" at delete's prompt on a terminal keeps
// the lineage, says "Nothing deleted." and exits 0.
func TestDeletePromptNo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := binaries(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	home := t.TempDir()
	state := filepath.Join(home, "state")
	live := filepath.Join(state, "live", "keep.example.test")
	if err := os.MkdirAll(live, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(live, "cert.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	master, slave := openPTY(t)
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "zonecert"), "delete", "--cert-name", "keep.example.test", "--path", state)
	cmd.Env = baseEnv(home)
	cmd.Stdin = slave
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if _, err := master.Write([]byte("n\n")); err != nil {
		t.Fatal(err)
	}
	err := cmd.Run()
	if err != nil || !strings.Contains(stdout.String(), "Nothing deleted.") {
		t.Fatalf("answering n: %v\n%s", err, stdout.String())
	}
	if _, err := os.Stat(filepath.Join(live, "cert.pem")); err != nil {
		t.Fatalf("the lineage is gone: %v", err)
	}
}
