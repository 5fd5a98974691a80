//go:build unix

package testenv

import "syscall"

// killGroup kills the process group led by pid (see childAttr).
func killGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
