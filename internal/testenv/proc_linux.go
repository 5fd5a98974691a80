package testenv

import "syscall"

// childAttr makes the kernel kill a test server (Pebble, named) when the
// test binary dies, even by SIGKILL; group puts it in a process group of
// its own so killGroup stops what it started too.
func childAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group, Pdeathsig: syscall.SIGKILL}
}
