//go:build !windows

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// runAsService: only Windows has a service control manager.
func runAsService([]string) (int, bool) { return 0, false }

// newServiceCmd is hidden here and points to the systemd units.
func newServiceCmd(env) *cobra.Command {
	return &cobra.Command{
		Use:                "service",
		Short:              "Install `zonecert run` as a Windows service (Windows only)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("`zonecert service` installs a Windows service and exists on Windows only; " +
				"elsewhere run `zonecert run` under systemd with the units in contrib/systemd (README, \"Running as a daemon\")")}
		},
	}
}
