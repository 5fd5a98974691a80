//go:build !linux

package main

// hardenHostEnv names the variable that makes the test binary a plugin host
// in harden_linux_test.go; elsewhere nothing sets it.
const hardenHostEnv = "ZONECERT_TEST_HARDEN_HOST"

// hardenHost: the hardening test is Linux's (PR_SET_DUMPABLE).
func hardenHost() {}
