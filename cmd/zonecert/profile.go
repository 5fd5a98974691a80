package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the whole run to
// $ZONECERT_CPUPROFILE, when set: how the storm benchmark finds where a
// daemon's time goes (go tool pprof -top bin/zonecert FILE). The returned
// stop ends it; with the variable unset both do nothing.
func startProfile(lookupEnv func(string) (string, bool)) (stop func()) {
	path, ok := lookupEnv("ZONECERT_CPUPROFILE")
	if !ok || path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zonecert: ZONECERT_CPUPROFILE:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "zonecert: ZONECERT_CPUPROFILE:", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
