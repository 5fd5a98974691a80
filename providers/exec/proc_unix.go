//go:build unix

package main

import (
	"errors"
	"os/exec"
	"syscall"
)

// killGroup starts cmd in a process group of its own and makes
// cancellation kill the whole group, so a timed-out hook cannot leave
// children (nsupdate, curl, sleep) running.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// textBusy reports the ETXTBSY a program written just before its run can
// give while another thread's fork still holds it open for writing (see
// golang.org/issue/22315); a short retry gets past it.
func textBusy(err error) bool { return errors.Is(err, syscall.ETXTBSY) }
