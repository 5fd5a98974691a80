package main

import (
	"context"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
	"github.com/zonecert/zonecert/plugin/sdk"
)

// TestConformance runs the public conformance kit against the fake API;
// the kit checks visibility at the fake's authoritative DNS server.
func TestConformance(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 3) // small pages, so the kit's lookups page too
	fake.AddZone("example.test")
	conformance.Run(t, conformance.Config{
		Target: conformance.InProcess("cloudflare", func(ctx context.Context) (sdk.Provider, error) {
			return newProvider(Settings{DNSToken: goodToken, BaseURL: fake.URL, Timeout: 5 * time.Second}, nil, nil)
		}),
		Zone:        "example.test.",
		Nameservers: []string{fake.DNSAddr},
		Timeout:     10 * time.Second,
	})
}

// TestConformanceBinary runs the built plugin through the host, as zonecert
// does: the token and CLOUDFLARE_BASE_URL reach it only through the
// environment its metadata declares.
func TestConformanceBinary(t *testing.T) {
	t.Parallel()
	fake := startFake(t, 3)
	fake.AddZone("example.test")
	env := map[string]string{
		"CLOUDFLARE_DNS_API_TOKEN": goodToken, // the alias of CF_DNS_API_TOKEN
		"CLOUDFLARE_BASE_URL":      fake.URL,
	}
	conformance.Run(t, conformance.Config{
		Target: conformance.Binary(testenv.PluginBinary(t, "cloudflare", "."), host.Config{
			Name: "cloudflare",
			LookupEnv: func(k string) (string, bool) {
				v, ok := env[k]
				return v, ok
			},
		}),
		Zone:        "example.test.",
		Nameservers: []string{fake.DNSAddr},
		Timeout:     10 * time.Second,
	})
	if fake.TotalCalls() == 0 {
		t.Fatal("the plugin never reached the fake: CLOUDFLARE_BASE_URL was not honoured")
	}
}
