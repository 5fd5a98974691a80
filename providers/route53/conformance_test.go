package main

import (
	"context"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/fakeroute53"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
)

// syncDelay makes the fake's nameserver lag its API, as Route 53's does.
const syncDelay = 150 * time.Millisecond

// TestConformance runs the public conformance kit in process against the
// fake, checking visibility at the fake's nameserver.
func TestConformance(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{SyncDelay: syncDelay})
	f.AddZone(zone, false)
	conformance.Run(t, conformance.Config{
		Target: conformance.InProcess("route53", func(context.Context) (plugin.Provider, error) {
			return goodProvider(t, f, Settings{}), nil
		}),
		Zone:         zone,
		Nameservers:  []string{f.DNSAddr()},
		Timeout:      10 * time.Second,
		PollInterval: 50 * time.Millisecond,
	})
}

// TestConformanceBinary builds zonecert-dns-route53 and runs the kit
// through the real host: a plugin process that gets only the environment
// it declares, reaching the fake through AWS_ENDPOINT_URL_ROUTE_53 with
// credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
func TestConformanceBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	t.Parallel()
	bin := testenv.PluginBinary(t, "route53", ".")
	f := fakeroute53.New(t, fakeroute53.Options{SyncDelay: syncDelay})
	f.AddZone(zone, false)
	home := t.TempDir()
	env := map[string]string{
		"HOME":                      home,
		"AWS_ENDPOINT_URL_ROUTE_53": f.URL,
		"AWS_ACCESS_KEY_ID":         fakeroute53.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     fakeroute53.SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED": "true",
		"AWS_TTL":                   "5",
		"UNRELATED_SECRET":          "must not reach the plugin",
	}
	conformance.Run(t, conformance.Config{
		Target: conformance.Binary(bin, host.Config{
			Name: "route53",
			// The SDK's credentials and endpoint: the user allows them.
			PassEnv: []string{"AWS_*"},
			LookupEnv: func(k string) (string, bool) {
				v, ok := env[k]
				return v, ok
			},
		}),
		Zone:         zone,
		Nameservers:  []string{f.DNSAddr()},
		Timeout:      15 * time.Second,
		PollInterval: 50 * time.Millisecond,
	})
}
