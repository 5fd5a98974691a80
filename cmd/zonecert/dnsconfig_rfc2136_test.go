package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

// TestDNSConfigRFC2136 proves that rfc2136's settings can come from a
// --dns-config file, under lego's environment names or the setting names:
// the file goes through the same pluginConfig that obtain uses, the built
// plugin runs behind the host, and the record must land in a real BIND.
func TestDNSConfigRFC2136(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs BIND9 and the built plugins")
	}
	t.Parallel()
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "cfg.test"}}})
	bin := binaries(t)
	const wrongSecret = "d3JvbmcgdHNpZyBzZWNyZXQgMDEyMzQ1Njc4OWFiY2RlZg=="

	tests := []struct {
		name    string
		file    string
		hostEnv map[string]string
		code    plugin.Code // 0: must succeed
	}{
		{"environment names", fmt.Sprintf(`# lego-style names
RFC2136_NAMESERVER=%s
export RFC2136_TSIG_KEY=%s
RFC2136_TSIG_SECRET="%s"
RFC2136_TSIG_ALGORITHM='%s'
RFC2136_TTL=90
`, b.Primary, b.TSIGKey, b.TSIGSecret, b.TSIGAlgorithm), nil, 0},
		{"setting names", fmt.Sprintf(`nameserver = %s:53
tsig_key = %s
tsig_secret = %s
tsig_algorithm = %s
ttl = 90
`, b.Primary, b.TSIGKey, b.TSIGSecret, b.TSIGAlgorithm), nil, 0},
		// The file is read after the environment and wins over it.
		{"file over environment", fmt.Sprintf("RFC2136_TSIG_SECRET=%s\n", b.TSIGSecret), map[string]string{
			"RFC2136_NAMESERVER": b.Primary.String(), "RFC2136_TSIG_KEY": b.TSIGKey,
			"RFC2136_TSIG_SECRET": wrongSecret, "RFC2136_TSIG_ALGORITHM": b.TSIGAlgorithm,
		}, 0},
		{"wrong secret in file", fmt.Sprintf("RFC2136_NAMESERVER=%s\nRFC2136_TSIG_KEY=%s\nRFC2136_TSIG_SECRET=%s\n",
			b.Primary, b.TSIGKey, wrongSecret), nil, plugin.CodeAuth},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "rfc2136.conf")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			e, _, _ := testEnv(tt.hostEnv)
			cfg, err := pluginConfig(e, &obtainFlags{dns: "rfc2136", dnsConfig: path, pluginDirs: []string{bin}})
			if err != nil {
				t.Fatalf("pluginConfig: %v", err)
			}
			c, err := host.Start(t.Context(), cfg)
			if err != nil {
				t.Fatalf("starting the plugin: %v", err)
			}
			t.Cleanup(func() { c.Close() })

			name := fmt.Sprintf("_acme-challenge.h%d.cfg.test.", i)
			recs := []plugin.Record{{ID: "1", FQDN: name, Zone: "cfg.test.", Value: "from-config-file"}}
			res, err := c.Present(t.Context(), recs)
			if err != nil || len(res) != 1 {
				t.Fatalf("Present = %+v, %v", res, err)
			}
			got, qerr := b.TXT(t.Context(), b.Primary, name)
			if qerr != nil {
				t.Fatal(qerr)
			}
			if tt.code != 0 {
				if res[0].Err == nil || res[0].Err.Code != tt.code {
					t.Fatalf("Present error %v; want code %v", res[0].Err, tt.code)
				}
				if len(got) != 0 {
					t.Fatalf("a rejected update changed the zone: TXT = %q", got)
				}
				return
			}
			if res[0].Err != nil {
				t.Fatalf("Present: %v", res[0].Err)
			}
			if !slices.Equal(got, []string{"from-config-file"}) {
				t.Fatalf("TXT %s = %q after Present", name, got)
			}
			if res, err := c.CleanUp(t.Context(), recs); err != nil || len(res) != 1 || res[0].Err != nil {
				t.Fatalf("CleanUp = %+v, %v", res, err)
			}
			if got, err := b.TXT(t.Context(), b.Primary, name); err != nil || len(got) != 0 {
				t.Fatalf("TXT %s = %q, %v after CleanUp; want none", name, got, err)
			}
		})
	}
}
