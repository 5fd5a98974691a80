//go:build !linux

package host

import "syscall"

// sysProcAttr: only Linux has a parent-death signal; elsewhere the SDK's
// parent watchdog stops orphaned plugins.
func sysProcAttr(bool) *syscall.SysProcAttr { return nil }
