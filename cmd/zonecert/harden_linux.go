package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// harden keeps the process's memory and environment to itself: not
// dumpable, so a plugin (or anything else) running as the same user cannot
// read /proc/<pid>/environ or /proc/<pid>/mem or ptrace it, and no core
// file, so a crash writes no keys to disk. It runs first thing in main.
func harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_DUMPABLE: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("RLIMIT_CORE: %w", err)
	}
	return nil
}
