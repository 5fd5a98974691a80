package main

import (
	"context"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
)

// shared hands the conformance kit the one running server as every
// "instance": the records live in the plugin process, and the host keeps
// one process per run, so a second process could neither bind the address
// nor see the records. What the kit's fresh-instance checks still prove is
// that CleanUp works from State alone (or from the record alone). shared
// has no Close, so the kit cannot stop the server under the other checks.
type shared struct{ plugin.Provider }

// TestConformance runs the public conformance kit with the provider's own
// server as the zone's only nameserver, queried over UDP (TCP on truncation).
func TestConformance(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	conformance.Run(t, conformance.Config{
		Target: conformance.InProcess("standalone", func(context.Context) (plugin.Provider, error) {
			return shared{p}, nil
		}),
		Zone:         zone,
		Nameservers:  []string{p.server.udpAddr().String()},
		Timeout:      5 * time.Second,
		PollInterval: 20 * time.Millisecond,
	})
}
