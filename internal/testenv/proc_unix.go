//go:build unix && !linux

package testenv

import "syscall"

// childAttr: only Linux has a parent-death signal; elsewhere a test binary
// killed by SIGKILL leaves its servers to the test runner's cleanup.
func childAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group}
}
