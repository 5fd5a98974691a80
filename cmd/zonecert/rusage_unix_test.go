//go:build unix

package main

import (
	"os"
	"syscall"
)

// maxRSSKiB is the peak resident set of an exited process (KiB on Linux,
// bytes on macOS: figures are compared on Linux only).
func maxRSSKiB(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss)
	}
	return 0
}
