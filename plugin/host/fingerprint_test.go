package host

import (
	"strings"
	"testing"

	"github.com/zonecert/zonecert/plugin"
)

func TestFingerprint(t *testing.T) {
	t.Parallel()
	meta := plugin.Metadata{Settings: []plugin.SettingSpec{
		{Name: "nameserver", Env: []string{"X_NAMESERVER"}},
		{Name: "tsig_secret", Env: []string{"X_TSIG_SECRET"}, Secret: true},
	}}
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	a := fingerprintOf("x", meta, nil, env(map[string]string{"X_NAMESERVER": "ns1:53", "X_TSIG_SECRET": "s1"}))
	if !strings.HasPrefix(a, "x@") || len(a) != len("x@")+12 {
		t.Fatalf("fingerprint %q, want x@<12 hex>", a)
	}
	if b := fingerprintOf("x", meta, nil, env(map[string]string{"X_NAMESERVER": "ns1:53", "X_TSIG_SECRET": "s2"})); b != a {
		t.Errorf("rotating a secret changed the fingerprint: %q vs %q", b, a)
	}
	if b := fingerprintOf("x", meta, map[string]string{"nameserver": "ns1:53"}, env(nil)); b != a {
		t.Errorf("the same setting from a file: %q vs %q", b, a)
	}
	if b := fingerprintOf("x", meta, nil, env(map[string]string{"X_NAMESERVER": "ns2:53"})); b == a {
		t.Errorf("another server got the same fingerprint %q", b)
	}
	if b := fingerprintOf("x", meta, nil, env(map[string]string{"X_TSIG_SECRET": "s"})); b != "x" {
		t.Errorf("no public settings: %q, want the bare name", b)
	}
	if strings.Contains(a, "s1") || strings.Contains(a, "ns1") {
		t.Errorf("fingerprint %q shows a setting", a)
	}
}
