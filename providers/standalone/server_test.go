package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/sdk"
)

const zone = "acme.example.test."

// start runs a provider on a free loopback port, closed when the test ends.
func start(t *testing.T, edit func(*Settings)) *provider {
	t.Helper()
	s := Settings{Listen: "127.0.0.1:0", Zone: zone, TTL: 60}
	if edit != nil {
		edit(&s)
	}
	p, err := newProvider(t.Context(), s, nil)
	if err != nil {
		t.Fatalf("newProvider: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// query asks the provider's server over net ("udp" or "tcp").
func query(t *testing.T, p *provider, network, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	if edns {
		m.SetEdns0(4096, false)
	}
	addr := p.server.udpAddr().String()
	if network == "tcp" {
		addr = p.server.tcpAddr().String()
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.ExchangeContext(t.Context(), m, addr)
	if err != nil {
		t.Fatalf("%s query %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return r
}

func present(t *testing.T, p *provider, recs ...sdk.Record) []sdk.Result {
	t.Helper()
	res, err := p.Present(t.Context(), recs)
	if err != nil {
		t.Fatalf("Present: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("Present %s: %v", r.ID, r.Err)
		}
	}
	return res
}

func txtValues(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	slices.Sort(out)
	return out
}

func TestServerAnswers(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	present(t, p,
		sdk.Record{ID: "1", FQDN: "_acme-challenge.www." + zone, Zone: zone, Value: "value-one"},
		sdk.Record{ID: "2", FQDN: "_acme-challenge.www." + zone, Zone: zone, Value: "value-two", TTL: 30})
	serial := p.store.serial

	type want struct {
		rcode   int
		aa      bool
		answer  []string // RR strings, sorted, TTL and owner as served
		soaAuth bool     // SOA in the authority section
		extra   []string
	}
	soa := fmt.Sprintf("%s\t60\tIN\tSOA\tns.%s hostmaster.%s %d 300 60 86400 1", zone, zone, zone, serial)
	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  want
	}{
		{"apex SOA", zone, dns.TypeSOA, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{soa}}},
		{"apex NS with glue", zone, dns.TypeNS, want{rcode: dns.RcodeSuccess, aa: true,
			answer: []string{zone + "\t60\tIN\tNS\tns." + zone},
			extra:  []string{"ns." + zone + "\t60\tIN\tA\t127.0.0.1"}}},
		{"NS address", "ns." + zone, dns.TypeA, want{rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"ns." + zone + "\t60\tIN\tA\t127.0.0.1"}}},
		{"NS has no AAAA", "ns." + zone, dns.TypeAAAA, want{rcode: dns.RcodeSuccess, aa: true, soaAuth: true}},
		{"presented TXT", "_acme-challenge.www." + zone, dns.TypeTXT, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"_acme-challenge.www." + zone + "\t30\tIN\tTXT\t\"value-two\"",
			"_acme-challenge.www." + zone + "\t60\tIN\tTXT\t\"value-one\"",
		}}},
		{"mixed case name", "_ACME-Challenge.WWW.Acme.Example.Test.", dns.TypeTXT, want{rcode: dns.RcodeSuccess, aa: true, answer: []string{
			"_ACME-Challenge.WWW.Acme.Example.Test.\t30\tIN\tTXT\t\"value-two\"",
			"_ACME-Challenge.WWW.Acme.Example.Test.\t60\tIN\tTXT\t\"value-one\"",
		}}},
		{"other type at TXT name is NODATA", "_acme-challenge.www." + zone, dns.TypeA, want{rcode: dns.RcodeSuccess, aa: true, soaAuth: true}},
		{"empty non-terminal is NODATA", "www." + zone, dns.TypeTXT, want{rcode: dns.RcodeSuccess, aa: true, soaAuth: true}},
		{"absent name is NXDOMAIN", "_acme-challenge.nope." + zone, dns.TypeTXT, want{rcode: dns.RcodeNameError, aa: true, soaAuth: true}},
		{"outside the zone is REFUSED", "_acme-challenge.example.test.", dns.TypeTXT, want{rcode: dns.RcodeRefused}},
		{"parent zone is REFUSED", "example.test.", dns.TypeSOA, want{rcode: dns.RcodeRefused}},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				r := query(t, p, network, tt.qname, tt.qtype, network == "udp")
				if r.Rcode != tt.want.rcode || r.Authoritative != tt.want.aa || r.RecursionAvailable {
					t.Fatalf("rcode %s aa %v ra %v; want %s aa %v ra false",
						dns.RcodeToString[r.Rcode], r.Authoritative, r.RecursionAvailable, dns.RcodeToString[tt.want.rcode], tt.want.aa)
				}
				if got := rrStrings(r.Answer); !slices.Equal(got, tt.want.answer) {
					t.Errorf("answer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want.answer, "\n"))
				}
				var extra []dns.RR
				for _, rr := range r.Extra {
					if rr.Header().Rrtype != dns.TypeOPT {
						extra = append(extra, rr)
					}
				}
				if got := rrStrings(extra); !slices.Equal(got, tt.want.extra) {
					t.Errorf("additional: %q; want %q", got, tt.want.extra)
				}
				gotSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
				if gotSOA != tt.want.soaAuth {
					t.Fatalf("authority %v; want SOA there: %v", r.Ns, tt.want.soaAuth)
				}
				if gotSOA && r.Ns[0].Header().Ttl != negTTL {
					t.Errorf("negative-answer SOA TTL %d; want %d (RFC 2308 §3)", r.Ns[0].Header().Ttl, negTTL)
				}
				if network == "udp" && r.IsEdns0() == nil {
					t.Errorf("no OPT record in the reply to an EDNS query")
				}
			})
		}
	}
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

func TestTruncationOverUDP(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	name := "_acme-challenge.big." + zone
	var recs []sdk.Record
	for i := range 20 {
		recs = append(recs, sdk.Record{ID: fmt.Sprint(i), FQDN: name, Zone: zone, Value: fmt.Sprintf("%02d-%s", i, strings.Repeat("v", 60))})
	}
	present(t, p, recs...)
	udp := query(t, p, "udp", name, dns.TypeTXT, false)
	if !udp.Truncated {
		t.Fatalf("a %d-value answer over plain UDP was not truncated", len(recs))
	}
	tcp := query(t, p, "tcp", name, dns.TypeTXT, false)
	if tcp.Truncated || len(txtValues(tcp)) != len(recs) {
		t.Fatalf("TCP answer: truncated %v, %d values; want all %d", tcp.Truncated, len(txtValues(tcp)), len(recs))
	}
}

func TestSerialMovesOnChangeOnly(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	serial := func() uint32 {
		t.Helper()
		r := query(t, p, "udp", zone, dns.TypeSOA, false)
		if len(r.Answer) != 1 {
			t.Fatalf("SOA answer %v", r.Answer)
		}
		return r.Answer[0].(*dns.SOA).Serial
	}
	rec := sdk.Record{ID: "1", FQDN: "_acme-challenge." + zone, Zone: zone, Value: "v"}
	s0 := serial()
	present(t, p, rec)
	s1 := serial()
	present(t, p, rec) // the same value again: no change
	s2 := serial()
	if _, err := p.CleanUp(t.Context(), []sdk.Record{rec}); err != nil {
		t.Fatal(err)
	}
	s3 := serial()
	if _, err := p.CleanUp(t.Context(), []sdk.Record{rec}); err != nil {
		t.Fatal(err)
	}
	s4 := serial()
	if got, want := []uint32{s1, s2, s3, s4}, []uint32{s0 + 1, s0 + 1, s0 + 2, s0 + 2}; !slices.Equal(got, want) {
		t.Fatalf("serials after present, present again, cleanup, cleanup again = %v; want %v", got, want)
	}
}

func TestCleanUpFromState(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	name := "_acme-challenge.state." + zone
	res := present(t, p,
		sdk.Record{ID: "a", FQDN: name, Zone: zone, Value: "keep"},
		sdk.Record{ID: "b", FQDN: name, Zone: zone, Value: "drop"})
	var state []byte
	for _, r := range res {
		if r.ID == "b" {
			state = r.State
		}
	}
	if len(state) == 0 {
		t.Fatal("Present returned no state")
	}
	// Only the state identifies the record: the host may have lost the rest.
	out, err := p.CleanUp(t.Context(), []sdk.Record{{ID: "x", State: state}})
	if err != nil || len(out) != 1 || out[0].ID != "x" || out[0].Err != nil {
		t.Fatalf("CleanUp from state = %+v, %v", out, err)
	}
	if got := txtValues(query(t, p, "tcp", name, dns.TypeTXT, false)); !slices.Equal(got, []string{"keep"}) {
		t.Fatalf("after cleanup TXT = %q; want [keep]", got)
	}
	// Again: the record is gone, which is success.
	if out, err := p.CleanUp(t.Context(), []sdk.Record{{ID: "y", State: state}}); err != nil || out[0].Err != nil {
		t.Fatalf("second CleanUp = %+v, %v", out, err)
	}
	out, err = p.CleanUp(t.Context(), []sdk.Record{{ID: "z", FQDN: name, Zone: zone, Value: "keep", State: []byte("not json")}})
	if err != nil || out[0].Err == nil {
		t.Fatalf("CleanUp with unreadable state = %+v, %v; want a per-record error", out, err)
	}
}

func TestRefusesOtherZones(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	tests := []sdk.Record{
		{ID: "outside", FQDN: "_acme-challenge.example.test.", Zone: "example.test.", Value: "v"},
		{ID: "zone mismatch", FQDN: "_acme-challenge.x." + zone, Zone: "example.test.", Value: "v"},
		{ID: "name outside record zone", FQDN: "_acme-challenge.other.test.", Zone: zone, Value: "v"},
	}
	for _, call := range []func() ([]sdk.Result, error){
		func() ([]sdk.Result, error) { return p.Present(t.Context(), tests) },
		func() ([]sdk.Result, error) { return p.CleanUp(t.Context(), tests) },
	} {
		res, err := call()
		if err != nil || len(res) != len(tests) {
			t.Fatalf("results %+v, %v", res, err)
		}
		for i, r := range res {
			if r.ID != tests[i].ID || r.Err == nil || r.Err.Code != plugin.CodeZoneNotFound {
				t.Errorf("%s: %+v; want a zone-not-found error", tests[i].ID, r)
			}
		}
	}
	if r := query(t, p, "udp", "_acme-challenge.x."+zone, dns.TypeTXT, false); len(r.Answer) != 0 {
		t.Fatalf("a refused record is served: %v", r.Answer)
	}
}

func TestListenErrors(t *testing.T) {
	t.Parallel()
	busy := start(t, nil)
	tests := []struct {
		name, listen, want string
	}{
		{"port in use", busy.server.tcpAddr().String(), "another process serves this port"},
		{"address not on this host", "192.0.2.1:5353", "not configured on any interface"},
		{"no port", "127.0.0.1", "want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := newProvider(t.Context(), Settings{Listen: tt.listen, Zone: zone}, nil)
			var se *sdk.SettingsError
			if !errors.As(err, &se) || se.Diagnostics[0].Setting != "listen" || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("newProvider(%s) error = %v; want a diagnostic on listen saying %q", tt.listen, err, tt.want)
			}
		})
	}
}

func TestCloseStopsServing(t *testing.T) {
	t.Parallel()
	// An address of its own in 127.0.0.0/8 (Linux routes all of it to lo):
	// on 127.0.0.1 a freed port can at once become another test's listener
	// or the source port of its outgoing connection.
	own := fmt.Sprintf("127.%d.%d.%d:0", 200+rand.IntN(50), rand.IntN(256), 1+rand.IntN(254))
	p, err := newProvider(t.Context(), Settings{Listen: own, Zone: zone}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := p.server.tcpAddr().String()
	query(t, p, "tcp", zone, dns.TypeSOA, false)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Taking the port ourselves proves it was let go; dialing it could reach
	// another server that was given the freed port meanwhile.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s still held after Close: %v", addr, err)
	}
	ln.Close()
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestServerRefusesWhatItDoesNotDo(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	exchange := func(t *testing.T, network string, m *dns.Msg) *dns.Msg {
		t.Helper()
		addr := p.server.udpAddr().String()
		if network == "tcp" {
			addr = p.server.tcpAddr().String()
		}
		r, _, err := (&dns.Client{Net: network, Timeout: 5 * time.Second}).ExchangeContext(t.Context(), m, addr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Run("EDNS version 1 is BADVERS", func(t *testing.T) {
		t.Parallel()
		m := new(dns.Msg)
		m.SetQuestion(zone, dns.TypeSOA)
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
		r := exchange(t, "udp", m)
		if r.Rcode != dns.RcodeBadVers || len(r.Answer) != 0 || r.IsEdns0() == nil || r.IsEdns0().Version() != 0 {
			t.Fatalf("rcode %d, answer %v, OPT %v; want BADVERS (16), no answer, an OPT of version 0 (RFC 6891 §6.1.3)",
				r.Rcode, r.Answer, r.IsEdns0())
		}
	})
	for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
		t.Run(dns.TypeToString[qtype]+" is REFUSED", func(t *testing.T) {
			t.Parallel()
			m := new(dns.Msg)
			m.SetQuestion(zone, qtype)
			if r := exchange(t, "tcp", m); r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
				t.Fatalf("rcode %s, answer %v; want REFUSED", dns.RcodeToString[r.Rcode], r.Answer)
			}
		})
	}
	t.Run("UPDATE is not implemented", func(t *testing.T) {
		t.Parallel()
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.Insert([]dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: "x." + zone, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"v"}}})
		if r := exchange(t, "udp", m); r.Rcode != dns.RcodeNotImplemented {
			t.Fatalf("rcode %s; want NOTIMP", dns.RcodeToString[r.Rcode])
		}
		if r := query(t, p, "udp", "x."+zone, dns.TypeTXT, false); r.Rcode != dns.RcodeNameError {
			t.Fatalf("after the UPDATE: %s; want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
	})
}

// TestOtherValuesUntouched: presenting and removing a value leaves every
// other value at the name exactly as it was served, TTL included (another
// order's value here, since this server holds only what zonecert presents).
func TestOtherValuesUntouched(t *testing.T) {
	t.Parallel()
	p := start(t, nil)
	name := "_acme-challenge.other." + zone
	present(t, p, sdk.Record{ID: "theirs", FQDN: name, Zone: zone, Value: "their value", TTL: 300})
	before := rrStrings(query(t, p, "tcp", name, dns.TypeTXT, false).Answer)
	res := present(t, p, sdk.Record{ID: "ours", FQDN: name, Zone: zone, Value: "ours", TTL: 5})
	during := query(t, p, "tcp", name, dns.TypeTXT, false).Answer
	if len(during) != 2 {
		t.Fatalf("served %v; want both values", during)
	}
	for _, rr := range during {
		if rr.(*dns.TXT).Txt[0] == "their value" && rr.Header().Ttl != 300 {
			t.Errorf("their value served as %v during the order; want TTL 300", rr)
		}
	}
	if out, err := p.CleanUp(t.Context(), []sdk.Record{{ID: "ours", State: res[0].State}}); err != nil || out[0].Err != nil {
		t.Fatalf("CleanUp = %+v, %v", out, err)
	}
	if after := rrStrings(query(t, p, "tcp", name, dns.TypeTXT, false).Answer); !slices.Equal(after, before) {
		t.Errorf("after cleanup %q; want %q as before", after, before)
	}
}
