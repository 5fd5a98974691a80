package main

import (
	"errors"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
)

// TestBinaryConformance runs the conformance kit against the built plugin
// as zonecert runs it: a separate process per instance, behind gRPC, with
// the settings in the lego-compatible environment variables.
func TestBinaryConformance(t *testing.T) {
	t.Parallel()
	b := startBIND(t, "example.test")
	env := map[string]string{
		"RFC2136_NAMESERVER":     b.Primary.String(),
		"RFC2136_TSIG_KEY":       b.TSIGKey,
		"RFC2136_TSIG_SECRET":    b.TSIGSecret,
		"RFC2136_TSIG_ALGORITHM": b.TSIGAlgorithm,
		"RFC2136_TTL":            "60",
	}
	conformance.Run(t, conformance.Config{
		Target: conformance.Binary(testenv.PluginBinary(t, "rfc2136", "."), host.Config{
			Name:      "rfc2136",
			LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		}),
		Zone:         "example.test.",
		Nameservers:  []string{b.Primary.String() + ":53"},
		Timeout:      10 * time.Second,
		PollInterval: 50 * time.Millisecond,
	})
}

// TestBinaryErrors checks that settings problems and update failures cross
// the process boundary with their setting names and codes.
func TestBinaryErrors(t *testing.T) {
	t.Parallel()
	bin := testenv.PluginBinary(t, "rfc2136", ".")

	t.Run("bad settings", func(t *testing.T) {
		t.Parallel()
		_, err := host.Start(t.Context(), host.Config{Name: "rfc2136", Path: bin, Settings: map[string]string{
			"nameserver": "127.0.0.1:99999", "tsig_key": "k", "tsig_secret": "not base64 !!",
		}})
		var ce *host.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("Start error = %v; want a *host.ConfigError", err)
		}
		got := map[string]bool{}
		for _, d := range ce.Diagnostics {
			got[d.Setting] = true
		}
		if !got["nameserver"] || !got["tsig_secret"] || len(got) != 2 {
			t.Fatalf("diagnostics %+v; want nameserver and tsig_secret", ce.Diagnostics)
		}
	})

	t.Run("wrong secret is auth", func(t *testing.T) {
		t.Parallel()
		b := startBIND(t, "example.test")
		c, err := host.Start(t.Context(), host.Config{Name: "rfc2136", Path: bin, Settings: map[string]string{
			"nameserver": b.Primary.String(), "tsig_key": b.TSIGKey,
			"tsig_secret": "d3JvbmcgdHNpZyBzZWNyZXQgMDEyMzQ1Njc4OWFiY2RlZg==", "tsig_algorithm": b.TSIGAlgorithm,
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		res, err := c.Present(t.Context(), []plugin.Record{rec("1", "_acme-challenge.example.test.", "example.test.", "v")})
		if err != nil || len(res) != 1 || res[0].Err == nil || res[0].Err.Code != plugin.CodeAuth {
			t.Fatalf("Present = %+v, %v; want one auth error", res, err)
		}
	})
}
