//go:build !linux

package host

import (
	"os"
	"syscall"
)

// processGone reports whether pid has exited: without /proc, a process
// that can no longer be signalled (a zombie still can).
func processGone(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	return p.Signal(syscall.Signal(0)) != nil
}
