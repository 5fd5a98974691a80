//go:build windows

package main

import (
	"errors"
	"testing"

	"golang.org/x/sys/windows/svc"
)

func TestWindowsServiceCmdMapping(t *testing.T) {
	for cmd, want := range map[svc.Cmd]svcCmd{
		svc.Stop: svcStop, svc.Shutdown: svcStop, svc.Interrogate: svcInterrogate,
		svc.Pause: svcIgnore, svc.ParamChange: svcIgnore, svc.PreShutdown: svcIgnore,
	} {
		if got := serviceCmd(svc.ChangeRequest{Cmd: cmd}); got != want {
			t.Errorf("serviceCmd(%d) = %d, want %d", cmd, got, want)
		}
	}
}

// TestWindowsServiceInstallUsage: bad arguments are refused before the
// service manager is contacted.
func TestWindowsServiceInstallUsage(t *testing.T) {
	for _, args := range [][]string{
		{"service", "install"},
		{"service", "install", "--config", `C:\does\not\exist.toml`},
		{"service", "install", "--config", "x.toml", "stray"},
	} {
		e, _, _ := testEnv(nil)
		var ue usageError
		if err := run(t.Context(), args, e); !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
