//go:build !windows

package main

// systemStatePath: on Unix the default depends on the user (see
// defaultStatePath).
func systemStatePath(env) (string, bool) { return "", false }
