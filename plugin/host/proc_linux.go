package host

import (
	"os/exec"
	"syscall"
)

// sysProcAttr makes the kernel kill the plugin when the host dies, even by
// SIGKILL. The SDK's parent watchdog covers the rest (and other systems).
func sysProcAttr(pdeathsig bool) *syscall.SysProcAttr {
	if !pdeathsig {
		return nil
	}
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// adopt: Pdeathsig (sysProcAttr) already ties the plugin to the host.
func adopt(*exec.Cmd) error { return nil }
