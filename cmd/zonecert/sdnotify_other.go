//go:build !linux

package main

// sdNotify does nothing: systemd's notification protocol exists on Linux
// only (README, "Platforms").
func sdNotify(env, string) error { return nil }

func monotonicUsec() int64 { return 0 }
