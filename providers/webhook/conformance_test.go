package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
	"github.com/zonecert/zonecert/plugin/sdk"
	"github.com/zonecert/zonecert/providers/webhook/internal/fakewebhook"
)

// TestConformance runs the kit against the fake webhook server; the kit
// checks visibility at the fake's DNS server.
func TestConformance(t *testing.T) {
	t.Parallel()
	fake := fakewebhook.Start(t, "example.test.")
	conformance.Run(t, conformance.Config{
		Target: conformance.InProcess("webhook", func(ctx context.Context) (sdk.Provider, error) {
			return newProvider(ctx, Settings{URL: fake.URL}, &http.Client{Timeout: 5 * time.Second})
		}),
		Zone:        "example.test.",
		Nameservers: []string{fake.DNSAddr},
		Timeout:     10 * time.Second,
	})
}

// TestConformanceBinary runs the built plugin through the host, as zonecert
// does: the URL reaches it only through WEBHOOK_URL.
func TestConformanceBinary(t *testing.T) {
	t.Parallel()
	fake := fakewebhook.Start(t, "example.test.")
	env := map[string]string{"WEBHOOK_URL": fake.URL}
	conformance.Run(t, conformance.Config{
		Target: conformance.Binary(testenv.PluginBinary(t, "webhook", "."), host.Config{
			Name: "webhook", LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		}),
		Zone:        "example.test.",
		Nameservers: []string{fake.DNSAddr},
		Timeout:     10 * time.Second,
	})
}
