package main

import (
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/fakeroute53"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
)

// TestRoute53Conformance runs the kit against lego's route53 provider and
// the repository's Route 53 fake (SigV4, the API's errors, a nameserver
// that lags the API until GetChange says INSYNC), through the plugin
// binary. The endpoint is the AWS SDK's own override,
// AWS_ENDPOINT_URL_ROUTE_53, which a user passes with pass_env as the
// route53 variant does not declare it; lego finds the hosted zone itself
// (no AWS_HOSTED_ZONE_ID).
func TestRoute53Conformance(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the plugin binary")
	}
	f := fakeroute53.New(t, fakeroute53.Options{SyncDelay: 150 * time.Millisecond})
	f.AddZone("example.test.", false)
	env := map[string]string{
		"HOME":                      t.TempDir(),
		"LEGO_PROVIDER":             "route53",
		"AWS_ACCESS_KEY_ID":         fakeroute53.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     fakeroute53.SecretAccessKey,
		"AWS_REGION":                "us-east-1",
		"AWS_ENDPOINT_URL_ROUTE_53": f.URL,
		"AWS_EC2_METADATA_DISABLED": "true",
		"AWS_TTL":                   "60",
		"AWS_POLLING_INTERVAL":      "1",
	}
	conformance.Run(t, conformance.Config{
		Target: conformance.Binary(legoBinary(t), host.Config{
			Name: "lego", LookupEnv: envOf(env), Resolvers: []string{f.DNSAddr()},
			PassEnv: []string{"AWS_ENDPOINT_URL_ROUTE_53", "AWS_EC2_METADATA_DISABLED"},
		}),
		Zone:         "example.test.",
		Nameservers:  []string{f.DNSAddr()},
		Timeout:      15 * time.Second,
		PollInterval: 50 * time.Millisecond,
		TTL:          60,
		Capabilities: plugin.Capabilities{ChallengeDetails: true},
	})
}
