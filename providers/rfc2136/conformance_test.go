package main

import (
	"context"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
)

// TestConformance runs the public conformance kit against a real BIND9
// primary, with the provider in process.
func TestConformance(t *testing.T) {
	t.Parallel()
	b := startBIND(t, "example.test")
	conformance.Run(t, conformance.Config{
		Target: conformance.InProcess("rfc2136", func(context.Context) (plugin.Provider, error) {
			return newProvider(bindSettings(b), nil)
		}),
		Zone:         "example.test.",
		Nameservers:  []string{b.Primary.String() + ":53"},
		Timeout:      10 * time.Second,
		PollInterval: 50 * time.Millisecond,
	})
}
