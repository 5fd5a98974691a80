package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin"
)

// describeRFC2136 stands for `zonecert-dns-<name> describe`: the settings
// below are rfc2136's and standalone's as their binaries print them (the
// command tests run the real binaries).
func describeRFC2136(_ context.Context, name, _, _ string, _ []string, _ string) (plugin.Metadata, error) {
	switch name {
	case "rfc2136":
		return plugin.Metadata{Name: name, Settings: []plugin.SettingSpec{
			{Name: "nameserver", Required: true},
			{Name: "tsig_key"},
			{Name: "tsig_secret", Secret: true},
			{Name: "tsig_algorithm", Default: "hmac-sha256."},
			{Name: "ttl", Default: "120"},
		}}, nil
	case "standalone":
		return plugin.Metadata{Name: name, Settings: []plugin.SettingSpec{
			{Name: "listen", Required: true}, {Name: "zone", Required: true},
		}}, nil
	}
	return plugin.Metadata{}, fmt.Errorf("plugin binary not found: zonecert-dns-%s", name)
}

const goodDoc = `state = "/var/lib/zonecert"
[acme]
server = "https://127.0.0.1:14000/dir"
email = "ops@example.com"
agree_tos = true
[dns]
resolvers = ["192.0.2.53:53", "192.0.2.54"]
[daemon]
check_interval = "2s"
max_concurrent = 3
[providers.bind]
plugin = "rfc2136"
settings = { nameserver = "ns1.example.com:53", tsig_key = "zonecert", tsig_secret = "${RFC2136_TSIG_SECRET}" }
[providers.other]
plugin = "rfc2136"
settings = { nameserver = "ns2.example.net", tsig_secret = "file:SECRETFILE", ttl = 60 }
[[certificate]]
name = "web"
domains = ["*.example.com", "Example.com"]
provider = "bind"
deploy_hook = "systemctl reload nginx"
[[certificate]]
name = "mixed"
domains = ["www.example.com", "shop.example.net"]
providers = { "example.com" = "bind", "example.net" = "other" }
`

func parse(t *testing.T, doc string, mode fs.FileMode, env map[string]string) (*Config, error) {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc = strings.ReplaceAll(doc, "SECRETFILE", secret)
	return Parse(t.Context(), "zonecert.toml", []byte(doc), mode, Options{
		Describe:  describeRFC2136,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
}

func TestParseGood(t *testing.T) {
	cfg, err := parse(t, goodDoc, 0o644, map[string]string{"RFC2136_TSIG_SECRET": "ZnJvbSBlbnY="})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Providers["bind"].Settings["tsig_secret"]; got != "ZnJvbSBlbnY=" {
		t.Errorf("env reference resolved to %q", got)
	}
	if got := cfg.Providers["other"].Settings; got["tsig_secret"] != "c2VjcmV0" || got["ttl"] != "60" {
		t.Errorf("other's settings = %v", got)
	}
	if len(cfg.Certificates) != 2 {
		t.Fatalf("certificates = %+v", cfg.Certificates)
	}
	web, mixed := cfg.Certificates[0], cfg.Certificates[1]
	if !slices.Equal(web.Domains, []string{"*.example.com", "example.com"}) || web.Provider != "bind" || web.Hooks.Deploy == "" {
		t.Errorf("web = %+v", web)
	}
	if mixed.Zones["example.net"] != "other" || !slices.Equal(mixed.Instances(), []string{"bind", "other"}) {
		t.Errorf("mixed = %+v", mixed)
	}
	if cfg.Daemon.CheckInterval != 2*time.Second || cfg.Daemon.MaxConcurrent != 3 || cfg.Daemon.NewOrderConcurrency != 1 {
		t.Errorf("daemon = %+v", cfg.Daemon)
	}
	if !slices.Equal(cfg.DNS.Resolvers, []string{"192.0.2.53:53", "192.0.2.54:53"}) {
		t.Errorf("resolvers = %v", cfg.DNS.Resolvers)
	}
}

// TestParseErrors: every bad document is refused with the line of the
// offending key.
func TestParseErrors(t *testing.T) {
	env := map[string]string{"RFC2136_TSIG_SECRET": "x"}
	replace := func(old, new string) string {
		if !strings.Contains(goodDoc, old) {
			t.Fatalf("goodDoc lacks %q", old)
		}
		return strings.Replace(goodDoc, old, new, 1)
	}
	tests := []struct {
		name string
		doc  string
		mode fs.FileMode
		env  map[string]string
		line int
		msg  string
	}{
		{"unknown key", replace("agree_tos = true", "agree_tos = true\nagree_tos_please = 1"), 0o600, env, 6, `unknown key "acme.agree_tos_please"`},
		{"unknown key in certificate", replace(`provider = "bind"`, `provider = "bind"`+"\nrenew_days = 30"), 0o600, env, 21, `unknown key "certificate[0].renew_days"`},
		{"unknown provider", replace(`provider = "bind"`, `provider = "bnid"`), 0o600, env, 20, `unknown provider "bnid"`},
		{"unknown provider in zone map", replace(`"example.net" = "other"`, `"example.net" = "cf"`), 0o600, env, 25, `unknown provider "cf"`},
		{"domain no provider covers", replace(`"shop.example.net"]`, `"shop.example.net", "shop.example.org"]`), 0o600, env, 24, "no provider covers shop.example.org"},
		{"duplicate name", replace(`name = "mixed"`, `name = "web"`), 0o600, env, 23, "duplicate name (first at line 18)"},
		{"secret in world-readable file", replace(`"${RFC2136_TSIG_SECRET}"`, `"bGl0ZXJhbA=="`), 0o644, env, 13, "literal secret in a file readable by group or others"},
		{"unknown plugin", replace(`plugin = "rfc2136"`+"\nsettings = { nameserver = \"ns2", `plugin = "route66"`+"\nsettings = { nameserver = \"ns2"), 0o600, env, 15, `unknown or unusable plugin "route66"`},
		{"unknown setting", replace("ttl = 60", "tll = 60"), 0o600, env, 16, `plugin rfc2136 has no setting "tll"`},
		{"unset environment variable", goodDoc, 0o600, nil, 13, "environment variable RFC2136_TSIG_SECRET is not set"},
		{"bad domain", replace(`"Example.com"]`, `"exa mple.com"]`), 0o600, env, 19, "exa mple.com"},
		{"bad duration", replace(`"2s"`, `"2 seconds"`), 0o600, env, 9, `bad duration "2 seconds"`},
		{"syntax error", replace(`[daemon]`, `[daemon`), 0o600, env, 8, ""},
		{"fleet bound below 1", replace("max_concurrent = 3", "max_concurrent = 3\nfleet_new_order_concurrency = 0"), 0o600, env, 11, "fleet_new_order_concurrency: want at least 1"},
		{"both provider and providers", replace(`provider = "bind"`, `provider = "bind"`+"\nproviders = { \"example.com\" = \"bind\" }"), 0o600, env, 21, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.doc, tt.mode, tt.env)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want config.Errors", err)
			}
			for _, e := range errs {
				if e.Line == tt.line && strings.Contains(e.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("no error at line %d containing %q; got:\n%v", tt.line, tt.msg, err)
		})
	}
}

// TestSecretsByReferenceInReadableFile: references are not literal
// secrets, so a 0644 file holding only references is fine.
func TestSecretsByReferenceInReadableFile(t *testing.T) {
	if _, err := parse(t, goodDoc, 0o644, map[string]string{"RFC2136_TSIG_SECRET": "x"}); err != nil {
		t.Fatal(err)
	}
}

func TestLongestZone(t *testing.T) {
	zones := map[string]string{"example.com": "a", "sub.example.com": "b", "example.net": "c"}
	for name, want := range map[string]string{
		"_acme-challenge.www.example.com.":  "example.com",
		"_acme-challenge.x.sub.example.com": "sub.example.com",
		"sub.example.com":                   "sub.example.com",
		"notexample.com":                    "",
		"example.org":                       "",
	} {
		got, ok := LongestZone(zones, name)
		if got != want || ok != (want != "") {
			t.Errorf("LongestZone(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(goodDoc))
	f.Add([]byte("state = 1\n[[certificate]]\nname = [1]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, _ = Parse(t.Context(), "f.toml", doc, 0o600, Options{Describe: describeRFC2136})
	})
}

// BenchmarkParse1000 parses and validates a file of 1,000 certificates.
func BenchmarkParse1000(b *testing.B) {
	var doc strings.Builder
	doc.WriteString(strings.Split(goodDoc, "[[certificate]]")[0])
	for i := range 1000 {
		fmt.Fprintf(&doc, "[[certificate]]\nname = \"c%d\"\ndomains = [\"c%d.example.com\"]\nprovider = \"bind\"\n", i, i)
	}
	env := func(string) (string, bool) { return "x", true }
	for b.Loop() {
		if _, err := Parse(b.Context(), "b.toml", []byte(strings.ReplaceAll(doc.String(), "file:SECRETFILE", "y")), 0o600,
			Options{Describe: describeRFC2136, LookupEnv: env}); err != nil {
			b.Fatal(err)
		}
	}
}
