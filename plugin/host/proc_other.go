//go:build !linux && !windows

package host

import (
	"os/exec"
	"syscall"
)

// sysProcAttr: only Linux has a parent-death signal; elsewhere the SDK's
// parent watchdog stops orphaned plugins.
func sysProcAttr(bool) *syscall.SysProcAttr { return nil }

// adopt: the SDK's parent watch stops an orphaned plugin here.
func adopt(*exec.Cmd) error { return nil }
