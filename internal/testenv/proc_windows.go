package testenv

import (
	"os"
	"syscall"
)

// childAttr: Windows has neither process groups of this kind nor a
// parent-death signal. Pebble and named are not run on Windows; this keeps
// the package (and every test that imports it) compiling there.
func childAttr(bool) *syscall.SysProcAttr { return nil }

// killGroup kills the process pid alone.
func killGroup(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
