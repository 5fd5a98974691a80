package main

import (
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
)

// legoBinary is the bridge as a real plugin process.
func legoBinary(t *testing.T) string {
	t.Helper()
	return testenv.PluginBinary(t, "lego", ".")
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestDNSUpdateConformance runs the kit against lego's dnsupdate (RFC
// 2136) provider and real BIND9, through the plugin binary.
func TestDNSUpdateConformance(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs BIND9")
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}})
	env := map[string]string{
		"LEGO_PROVIDER":            "dnsupdate",
		"DNSUPDATE_NAMESERVER":     b.Primary.String(),
		"DNSUPDATE_TSIG_KEY":       b.TSIGKey,
		"DNSUPDATE_TSIG_SECRET":    b.TSIGSecret,
		"DNSUPDATE_TSIG_ALGORITHM": b.TSIGAlgorithm,
		"DNSUPDATE_TTL":            "60",
	}
	conformance.Run(t, conformance.Config{
		Target: conformance.Binary(legoBinary(t), host.Config{
			Name: "lego", LookupEnv: envOf(env), Resolvers: []string{b.Primary.String() + ":53"},
		}),
		Zone:         "example.test.",
		Nameservers:  []string{b.Primary.String() + ":53"},
		Timeout:      10 * time.Second,
		PollInterval: 50 * time.Millisecond,
		TTL:          60,
		// lego's dnsupdate implements challenge.Sequential, so the bridge
		// declares one value per name; its Present removes the RRset first.
		Capabilities: plugin.Capabilities{ChallengeDetails: true, MaxValuesPerName: 1},
		Skip: map[string]string{
			"foreign-rrset-restored": "lego's dnsupdate deletes the whole TXT RRset at the name before inserting (RemoveRRset): a user's TXT record there is lost",
		},
	})
}
