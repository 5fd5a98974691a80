package main

import (
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/sdk"
)

// TestBINDTSIGAlgorithms signs real updates with each algorithm the plugin
// promises, each against a BIND key of that algorithm, spelled the ways
// users write it (lego's "hmac-sha1", BIND's "hmac-sha512", with a dot).
func TestBINDTSIGAlgorithms(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs BIND9")
	}
	tests := []struct {
		bind    string // the key's algorithm in named.conf
		setting string // RFC2136_TSIG_ALGORITHM
		other   string // a different algorithm, which named must reject
	}{
		{dns.HmacSHA1, "hmac-sha1", "hmac-sha256"},
		{dns.HmacSHA256, "hmac-sha256.", "hmac-sha1"},
		{dns.HmacSHA512, "HMAC-SHA512", "hmac-sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.setting, func(t *testing.T) {
			t.Parallel()
			b := testenv.StartBIND(t, testenv.BINDConfig{
				Zones:         []testenv.Zone{{Name: "example.test"}},
				TSIGAlgorithm: tt.bind,
			})
			if b.TSIGAlgorithm != tt.bind {
				t.Fatalf("BIND key algorithm %s; want %s", b.TSIGAlgorithm, tt.bind)
			}
			s := bindSettings(b)
			s.TSIGAlgorithm = tt.setting
			p := mustProvider(t, s)
			name := "_acme-challenge.example.test."
			mustOK(t, call(t, p.Present, rec("a", name, "example.test.", "wildcard"), rec("b", name, "example.test.", "apex")))
			if got, want := txt(t, b, name), []string{"apex", "wildcard"}; !slices.Equal(got, want) {
				t.Fatalf("TXT = %q, want %q", got, want)
			}
			mustOK(t, call(t, p.CleanUp, rec("c", name, "example.test.", "apex")))
			if got, want := txt(t, b, name), []string{"wildcard"}; !slices.Equal(got, want) {
				t.Fatalf("after cleaning apex: TXT = %q, want %q", got, want)
			}

			// Same key name and secret, wrong algorithm: named answers BADKEY.
			s.TSIGAlgorithm = tt.other
			wrong := mustProvider(t, s)
			e := call(t, wrong.CleanUp, rec("d", name, "example.test.", "wildcard"))["d"]
			if e == nil || e.Code != plugin.CodeAuth || e.Retryable {
				t.Fatalf("cleanup signed with %s = %v; want a non-retryable auth error", tt.other, e)
			}
			if got, want := txt(t, b, name), []string{"wildcard"}; !slices.Equal(got, want) {
				t.Fatalf("a rejected update changed the zone: TXT = %q, want %q", got, want)
			}
			mustOK(t, call(t, p.CleanUp, rec("e", name, "example.test.", "wildcard")))
			if got := txt(t, b, name); len(got) != 0 {
				t.Fatalf("after cleanup TXT = %q, want none", got)
			}
		})
	}
}

// TestBINDUpdatePolicy proves the grants README.md recommends: a key limited
// to TXT at one challenge name, or to TXT anywhere in the zone, is enough,
// and an update beyond the grant fails as auth (named answers REFUSED).
func TestBINDUpdatePolicy(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs BIND9")
	}
	const key = "zonecert-test." // StartBIND's key name
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{
		{Name: "exact.test", UpdatePolicy: "grant " + key + " name _acme-challenge.exact.test. TXT;"},
		{Name: "sub.test", UpdatePolicy: "grant " + key + " zonesub TXT;"},
	}})
	if b.TSIGKey != key {
		t.Fatalf("BIND key %q; the policies name %q", b.TSIGKey, key)
	}
	p := mustProvider(t, bindSettings(b))

	t.Run("name grant", func(t *testing.T) {
		t.Parallel()
		granted, other := "_acme-challenge.exact.test.", "_acme-challenge.www.exact.test."
		mustOK(t, call(t, p.Present, rec("1", granted, "exact.test.", "v")))
		if got := txt(t, b, granted); !slices.Equal(got, []string{"v"}) {
			t.Fatalf("TXT %s = %q", granted, got)
		}
		// An UPDATE is atomic: a batch with one name outside the grant fails
		// whole, and every record of the zone reports it.
		errs := call(t, p.Present, rec("2", granted, "exact.test.", "w"), rec("3", other, "exact.test.", "w"))
		for _, id := range []string{"2", "3"} {
			if e := errs[id]; e == nil || e.Code != plugin.CodeAuth || e.Retryable {
				t.Fatalf("record %s: %v; want a non-retryable auth error", id, e)
			}
		}
		if got := txt(t, b, granted); !slices.Equal(got, []string{"v"}) {
			t.Fatalf("refused batch changed %s: %q", granted, got)
		}
		mustOK(t, call(t, p.CleanUp, rec("4", granted, "exact.test.", "v")))
		if got := txt(t, b, granted); len(got) != 0 {
			t.Fatalf("after cleanup TXT = %q", got)
		}
	})

	t.Run("zonesub TXT grant", func(t *testing.T) {
		t.Parallel()
		recs := []sdk.Record{
			rec("1", "_acme-challenge.sub.test.", "sub.test.", "apex"),
			rec("2", "_acme-challenge.www.sub.test.", "sub.test.", "www"),
		}
		mustOK(t, call(t, p.Present, recs...))
		if got := txt(t, b, "_acme-challenge.www.sub.test."); !slices.Equal(got, []string{"www"}) {
			t.Fatalf("TXT = %q", got)
		}
		mustOK(t, call(t, p.CleanUp, recs...))
		for _, r := range recs {
			if got := txt(t, b, r.FQDN); len(got) != 0 {
				t.Fatalf("after cleanup TXT %s = %q", r.FQDN, got)
			}
		}
	})
}
