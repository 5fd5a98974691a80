package dnstest

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// served asks srv for the TXT set at fqdn: value to TTL.
func served(t *testing.T, srv *Server, fqdn string) map[string]uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	m := new(dns.Msg).SetQuestion(fqdn, dns.TypeTXT)
	in, _, err := (&dns.Client{Net: "tcp"}).ExchangeContext(ctx, m, srv.Addr())
	if err != nil {
		t.Fatalf("asking for %s: %v", fqdn, err)
	}
	out := map[string]uint32{}
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out[txt.Txt[0]] = txt.Hdr.Ttl
		}
	}
	return out
}

// TestRecordsServeOneTTLPerName replays what BIND 9.18 serves for these
// UPDATEs: adding a value at another TTL moves the whole set to it, and
// deleting that value leaves the set at the new TTL.
func TestRecordsServeOneTTLPerName(t *testing.T) {
	var r Records
	srv := StartValues(t, "example.test.", r.Values)
	const name = "u.example.test."
	steps := []struct {
		do   func()
		want map[string]uint32
	}{
		{func() { r.Add(name, "user", 180) }, map[string]uint32{"user": 180}},
		{func() { r.Add("U.Example.Test.", "kit", 60) }, map[string]uint32{"user": 60, "kit": 60}},
		{func() { r.Remove(name, "kit") }, map[string]uint32{"user": 60}},
		{func() { r.Remove(name, "user") }, map[string]uint32{}},
		{func() { r.Add(name, "user", 180) }, map[string]uint32{"user": 180}},
	}
	for i, s := range steps {
		s.do()
		got := served(t, srv, name)
		if len(got) != len(s.want) {
			t.Fatalf("step %d: served %v, want %v", i, got, s.want)
		}
		for v, ttl := range s.want {
			if got[v] != ttl {
				t.Fatalf("step %d: served %v, want %v", i, got, s.want)
			}
		}
	}
	if ttl, ok := r.TTL(name); !ok || ttl != 180 {
		t.Errorf("TTL = %d, %v; want 180", ttl, ok)
	}
	r.Remove(name, "user")
	if ttl, ok := r.TTL(name); ok {
		t.Errorf("TTL of an emptied name = %d; want none", ttl)
	}
	if r.Remove(name, "absent") {
		t.Error("Remove of an absent value reported one removed")
	}
}

// TestStartValuesServesOneTTL: values a callback gives different TTLs are
// served at the first one's, as BIND loads such a zone file.
func TestStartValuesServesOneTTL(t *testing.T) {
	srv := StartValues(t, "example.test.", func(string) []Value {
		return []Value{{Text: "first", TTL: 120}, {Text: "second", TTL: 300}}
	})
	if got := served(t, srv, "x.example.test."); got["first"] != 120 || got["second"] != 120 {
		t.Errorf("served %v, want both at 120", got)
	}
}
