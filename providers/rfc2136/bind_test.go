package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/sdk"
)

// These tests drive the provider against a real BIND9 primary from
// internal/testenv; they need root and the bind9 package (make test installs it).

func startBIND(t *testing.T, zones ...string) *testenv.BIND {
	t.Helper()
	if testing.Short() {
		t.Skip("needs BIND9")
	}
	cfg := testenv.BINDConfig{}
	for _, z := range zones {
		cfg.Zones = append(cfg.Zones, testenv.Zone{Name: z})
	}
	return testenv.StartBIND(t, cfg)
}

func bindSettings(b *testenv.BIND) Settings {
	return Settings{
		Nameserver:    b.Primary.String(),
		TSIGKey:       b.TSIGKey,
		TSIGSecret:    sdk.Secret(b.TSIGSecret),
		TSIGAlgorithm: b.TSIGAlgorithm,
		TTL:           60,
		Timeout:       5 * time.Second,
	}
}

func mustProvider(t *testing.T, s Settings) *provider {
	t.Helper()
	p, err := newProvider(s, nil)
	if err != nil {
		t.Fatalf("newProvider: %v", err)
	}
	return p
}

// call runs Present or CleanUp and fails the test on a call error; it
// returns the per-record errors by record ID.
func call(t *testing.T, fn func(context.Context, []sdk.Record) ([]sdk.Result, error), recs ...sdk.Record) map[string]*plugin.Error {
	t.Helper()
	res, err := fn(t.Context(), recs)
	if err != nil {
		t.Fatalf("call error: %v", err)
	}
	if len(res) != len(recs) {
		t.Fatalf("%d results for %d records", len(res), len(recs))
	}
	out := make(map[string]*plugin.Error)
	for _, r := range res {
		out[r.ID] = r.Err
	}
	for _, r := range recs {
		if _, ok := out[r.ID]; !ok {
			t.Fatalf("no result for record %s", r.ID)
		}
	}
	return out
}

func mustOK(t *testing.T, errs map[string]*plugin.Error) {
	t.Helper()
	for id, e := range errs {
		if e != nil {
			t.Fatalf("record %s: %v", id, e)
		}
	}
}

func txt(t *testing.T, b *testenv.BIND, name string) []string {
	t.Helper()
	got, err := b.TXT(t.Context(), b.Primary, name)
	if err != nil {
		t.Fatalf("TXT %s: %v", name, err)
	}
	slices.Sort(got)
	return got
}

// txtRRs returns the TXT RRs the primary serves at name.
func txtRRs(t *testing.T, b *testenv.BIND, name string) []*dns.TXT {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	r, _, err := c.ExchangeContext(t.Context(), m, netip.AddrPortFrom(b.Primary, 53).String())
	if err != nil {
		t.Fatalf("TXT %s: %v", name, err)
	}
	var out []*dns.TXT
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, txt)
		}
	}
	return out
}

func rec(id, fqdn, zone, value string) sdk.Record {
	return sdk.Record{ID: id, FQDN: fqdn, Zone: zone, Value: value}
}

func TestBINDAppendAndExactDelete(t *testing.T) {
	t.Parallel()
	b := startBIND(t, "example.test", "other.test")
	p := mustProvider(t, bindSettings(b))

	t.Run("present appends and is idempotent", func(t *testing.T) {
		t.Parallel()
		name := "_acme-challenge.append.example.test."
		mustOK(t, call(t, p.Present, rec("a", name, "example.test.", "value-one")))
		mustOK(t, call(t, p.Present, rec("b", name, "example.test.", "value-two")))
		mustOK(t, call(t, p.Present, rec("c", name, "example.test.", "value-two")))
		if got, want := txt(t, b, name), []string{"value-one", "value-two"}; !slices.Equal(got, want) {
			t.Fatalf("after presenting: TXT = %q, want %q", got, want)
		}
		mustOK(t, call(t, p.CleanUp, rec("d", name, "example.test.", "value-one")))
		if got, want := txt(t, b, name), []string{"value-two"}; !slices.Equal(got, want) {
			t.Fatalf("after cleaning value-one: TXT = %q, want %q", got, want)
		}
		// Cleaning an absent value succeeds and touches nothing.
		mustOK(t, call(t, p.CleanUp, rec("e", name, "example.test.", "value-one")))
		if got, want := txt(t, b, name), []string{"value-two"}; !slices.Equal(got, want) {
			t.Fatalf("after cleaning value-one again: TXT = %q, want %q", got, want)
		}
		mustOK(t, call(t, p.CleanUp, rec("f", name, "example.test.", "value-two")))
		if got := txt(t, b, name); len(got) != 0 {
			t.Fatalf("after cleaning both: TXT = %q, want none", got)
		}
	})

	t.Run("cleanup leaves records it did not create", func(t *testing.T) {
		t.Parallel()
		// Another party's set, with a TTL other than ours (60): a DNS
		// RRset has one TTL, and BIND gives the whole set the TTL of an
		// added RR (RFC 2181 §5.2).
		name := "_acme-challenge.foreign.example.test."
		if err := b.Update(t.Context(), "example.test", []string{name + ` 3600 IN TXT "someone-else" "second string"`}, nil); err != nil {
			t.Fatal(err)
		}
		want := txtRRs(t, b, name)
		mustOK(t, call(t, p.Present, rec("a", name, "example.test.", "ours"), rec("w", name, "example.test.", "wildcard")))
		for _, rr := range txtRRs(t, b, name) {
			if rr.Hdr.Ttl != 3600 {
				t.Errorf("during the order %v; want the set's TTL 3600 kept", rr)
			}
		}
		mustOK(t, call(t, p.CleanUp, rec("b", name, "example.test.", "ours")))
		mustOK(t, call(t, p.CleanUp, rec("c", name, "example.test.", "wildcard")))
		if got := txtRRs(t, b, name); len(got) != 1 || got[0].String() != want[0].String() {
			t.Fatalf("after cleanup %v; want %v as it was", got, want)
		}
	})

	t.Run("long and escaped values round-trip", func(t *testing.T) {
		t.Parallel()
		name := "_acme-challenge.long.example.test."
		long := string(slices.Repeat([]byte("x"), 300))
		odd := `back\slash "quoted" value`
		// testenv's TXT returns miekg/dns presentation strings (escaped).
		oddShown := `back\\slash \"quoted\" value`
		mustOK(t, call(t, p.Present, rec("a", name, "example.test.", long), rec("b", name, "example.test.", odd)))
		got := txt(t, b, name)
		if len(got) != 2 || !slices.Contains(got, oddShown) || !slices.Contains(got, long) {
			t.Fatalf("TXT = %q, want the 300-byte value and %q", got, oddShown)
		}
		mustOK(t, call(t, p.CleanUp, rec("c", name, "example.test.", long), rec("d", name, "example.test.", odd)))
		if got := txt(t, b, name); len(got) != 0 {
			t.Fatalf("after cleanup TXT = %q, want none", got)
		}
	})

	t.Run("one update per zone per batch", func(t *testing.T) {
		t.Parallel()
		// other.test is used by this subtest only, so its serial moves only
		// because of this batch: BIND bumps it once per UPDATE message.
		before, err := b.Serial(t.Context(), b.Primary, "other.test")
		if err != nil {
			t.Fatal(err)
		}
		var recs []sdk.Record
		for i := range 5 {
			recs = append(recs, rec(fmt.Sprint(i), fmt.Sprintf("_acme-challenge.h%d.other.test.", i%2), "other.test.", fmt.Sprint("v", i)))
		}
		mustOK(t, call(t, p.Present, recs...))
		after, err := b.Serial(t.Context(), b.Primary, "other.test")
		if err != nil {
			t.Fatal(err)
		}
		if after != before+1 {
			t.Fatalf("serial went from %d to %d for one batch; want exactly one UPDATE", before, after)
		}
		if got := txt(t, b, "_acme-challenge.h0.other.test."); !slices.Equal(got, []string{"v0", "v2", "v4"}) {
			t.Fatalf("h0 TXT = %q", got)
		}
		mustOK(t, call(t, p.CleanUp, recs...))
		final, err := b.Serial(t.Context(), b.Primary, "other.test")
		if err != nil {
			t.Fatal(err)
		}
		if final != after+1 {
			t.Fatalf("serial went from %d to %d for one cleanup batch", after, final)
		}
		if got := txt(t, b, "_acme-challenge.h1.other.test."); len(got) != 0 {
			t.Fatalf("h1 TXT after cleanup = %q", got)
		}
	})
}

func TestBINDErrors(t *testing.T) {
	t.Parallel()
	b := startBIND(t, "example.test")
	name := "_acme-challenge.err.example.test."

	tests := []struct {
		name      string
		edit      func(*Settings)
		rec       sdk.Record
		code      plugin.Code
		retryable bool
		want      string // in the message, when set
	}{
		{"wrong secret", func(s *Settings) { s.TSIGSecret = "d3JvbmcgdHNpZyBzZWNyZXQgMDEyMzQ1Njc4OWFiY2RlZg==" },
			rec("1", name, "example.test.", "v"), plugin.CodeAuth, false, "RFC2136_TSIG_SECRET"},
		{"unknown key", func(s *Settings) { s.TSIGKey = "no-such-key." },
			rec("1", name, "example.test.", "v"), plugin.CodeAuth, false, "RFC2136_TSIG_KEY"},
		{"wrong algorithm", func(s *Settings) { s.TSIGAlgorithm = "hmac-sha512" },
			rec("1", name, "example.test.", "v"), plugin.CodeAuth, false, "RFC2136_TSIG_ALGORITHM"},
		{"unsigned", func(s *Settings) { s.TSIGKey, s.TSIGSecret = "", "" },
			rec("1", name, "example.test.", "v"), plugin.CodeAuth, false, "REFUSED"},
		{"zone not served", func(*Settings) {},
			rec("1", "_acme-challenge.elsewhere.test.", "elsewhere.test.", "v"), plugin.CodeZoneNotFound, false, "NOTAUTH"},
		{"name outside zone", func(*Settings) {},
			rec("1", "_acme-challenge.elsewhere.test.", "example.test.", "v"), plugin.CodeZoneNotFound, false, ""},
		{"nothing listening", func(s *Settings) {
			s.Nameserver = netip.AddrPortFrom(b.Primary, 1).String()
		}, rec("1", name, "example.test.", "v"), plugin.CodeOther, true, "RFC2136_NAMESERVER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := bindSettings(b)
			tt.edit(&s)
			p := mustProvider(t, s)
			for _, fn := range []func(context.Context, []sdk.Record) ([]sdk.Result, error){p.Present, p.CleanUp} {
				e := call(t, fn, tt.rec)["1"]
				if e == nil {
					t.Fatal("succeeded; want an error")
				}
				if e.Code != tt.code || e.Retryable != tt.retryable {
					t.Fatalf("error %v (retryable %v); want code %v retryable %v", e, e.Retryable, tt.code, tt.retryable)
				}
				if !strings.Contains(e.Message, tt.want) {
					t.Fatalf("message %q does not mention %q", e.Message, tt.want)
				}
				t.Logf("message: %s", e.Message)
			}
			if got := txt(t, b, name); len(got) != 0 {
				t.Fatalf("a failed update changed the zone: TXT = %q", got)
			}
		})
	}
}
