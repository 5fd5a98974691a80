//go:build !linux

package main

// harden is Linux only (PR_SET_DUMPABLE, RLIMIT_CORE); elsewhere the
// operating system's own process isolation is what there is.
func harden() error { return nil }
