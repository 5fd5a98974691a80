//go:build !windows

package main

import (
	"errors"
	"strings"
	"testing"
)

// TestServiceCmdElsewhere: `zonecert service` is hidden off Windows and
// points to the systemd units.
func TestServiceCmdElsewhere(t *testing.T) {
	e, stdout, _ := testEnv(nil)
	err := run(t.Context(), []string{"service", "install", "--config", "/etc/zonecert/zonecert.toml"}, e)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "contrib/systemd") {
		t.Fatalf("service install: %v, want a usage error naming contrib/systemd", err)
	}
	e, stdout, _ = testEnv(nil)
	if err := run(t.Context(), []string{"--help"}, e); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout.String(), "\n  service ") {
		t.Errorf("--help lists the service command:\n%s", stdout)
	}
}
