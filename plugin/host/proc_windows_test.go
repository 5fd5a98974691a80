package host

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// A process in a kill-on-close job dies when the job's last handle closes,
// which is what happens to a plugin when its host exits.
func TestWindowsJobKillsOnClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	job, err := newKillOnCloseJob()
	if err != nil {
		t.Fatal(err)
	}
	var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	if err := windows.QueryInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), nil); err != nil {
		t.Fatal(err)
	}
	if info.BasicLimitInformation.LimitFlags&windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE == 0 {
		t.Fatalf("job limit flags %#x lack KILL_ON_JOB_CLOSE", info.BasicLimitInformation.LimitFlags)
	}
	// A child that would run for a minute: ping waits a second between
	// echo requests to loopback.
	cmd := exec.Command("ping.exe", "-n", "60", "127.0.0.1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	if err := assignJob(job, cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := windows.CloseHandle(job); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatal("child still running after its job's last handle closed")
	}
}

// Windows plugins are zonecert-dns-<name>.exe: Find and FindAll see the
// .exe (in any case) and nothing without it.
func TestWindowsFindsExe(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{BinaryPrefix + "alpha.exe", BinaryPrefix + "beta.EXE", BinaryPrefix + "gamma", BinaryPrefix + "delta.bat"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("MZ"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := Find("alpha", []string{dir}, nil); err != nil || p != filepath.Join(dir, BinaryPrefix+"alpha.exe") {
		t.Errorf("Find(alpha) = %q, %v", p, err)
	}
	if _, err := Find("gamma", []string{dir}, nil); err == nil {
		t.Error("Find(gamma) found a file without .exe")
	}
	var names []string
	for _, c := range FindAll([]string{dir}, nil) {
		if c.Dir == dir {
			names = append(names, c.Name)
		}
	}
	if len(names) != 2 || names[0] != "alpha" || names[1] != "beta" {
		t.Errorf("FindAll names %v, want [alpha beta]", names)
	}
}
