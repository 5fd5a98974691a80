package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/internal/fakeacmedns"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
	"github.com/zonecert/zonecert/plugin/host"
)

// TestOrdersThroughBIND is the set-up the README describes: the user's
// zone example.test on a real BIND9 delegates acme.example.test to
// acme-dns and CNAMEs _acme-challenge.example.test to the account's
// fulldomain. Orders go through Pebble and the built plugin.
func TestOrdersThroughBIND(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs BIND9, Pebble and root")
	}
	nsAddr := testenv.LoopbackAddr(t)
	f := fakeacmedns.Start(t, "acme.example.test", netip.AddrPortFrom(nsAddr, 53).String())
	s := Settings{APIBase: f.URL, StoragePath: filepath.Join(t.TempDir(), "acmedns.json")}
	var out, errb bytes.Buffer
	if code := register(t.Context(), []string{"-d", "example.test"}, settingsEnv(s), &out, &errb); code != 0 {
		t.Fatalf("register: %s", errb.String())
	}
	accounts, err := loadAccounts(s.StoragePath)
	if err != nil {
		t.Fatal(err)
	}
	full := canonical(accounts["example.test"].FullDomain)
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{
		Name: "example.test",
		Records: []string{
			"acme IN NS ns1.acme",
			"ns1.acme IN A " + nsAddr.String(),
			// The record register printed: the wildcard shares it.
			"_acme-challenge IN CNAME " + full,
			// www shares the account too, so four values meet at one name.
			"_acme-challenge.www IN CNAME " + full,
		},
	}}})
	resolver := iterativeResolver(t, netip.AddrPortFrom(b.Primary, 53))
	pebble := testenv.StartPebble(t, testenv.PebbleOptions{DNSServer: resolver, NonceReject: 20})
	prov, err := host.Start(t.Context(), host.Config{
		Name: "acmedns", Path: testenv.PluginBinary(t, "acmedns", "."), LookupEnv: settingsEnv(s),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prov.Close() })

	// obtain runs one order with a fresh ACME account (no reused
	// authorizations) and returns the progress events.
	obtain := func(t *testing.T, domains ...string) []progress.Event {
		store, err := storage.NewFS(filepath.Join(t.TempDir(), "state"))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var events []progress.Event
		eng, err := core.New(core.Config{Storage: store, Provider: prov, HTTPClient: pebble.HTTPClient,
			Observer: progress.ObserverFunc(func(_ context.Context, e progress.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })})
		if err != nil {
			t.Fatal(err)
		}
		res, err := eng.Obtain(t.Context(), core.Request{
			Domains: domains, DirectoryURL: pebble.DirectoryURL, AgreeTOS: true,
			Resolvers: []string{resolver}, PropagationTimeout: 30 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Sorted(slices.Values(leafOf(t, res.Files.FullChain).DNSNames))
		if want := slices.Sorted(slices.Values(domains)); !slices.Equal(got, want) {
			t.Fatalf("certificate names %q, want %q", got, want)
		}
		mu.Lock()
		defer mu.Unlock()
		left := map[string]bool{}
		for _, e := range events {
			switch e.Stage {
			case progress.CleanedUp:
				t.Errorf("the host claims a removal acme-dns cannot make: %+v", e)
			case progress.Syncing:
				t.Errorf("the host reports a sync step the plugin does not have: %+v", e)
			case progress.LeftInPlace:
				left[e.Identifier] = true
			}
		}
		for _, d := range domains {
			if !left[d] {
				t.Errorf("no left-in-place report for %s", d)
			}
		}
		return events
	}

	// A wildcard and its apex: both values at the one fulldomain, which
	// acme-dns's two values allow, in one round.
	t.Run("wildcard-and-apex", func(t *testing.T) {
		before := f.Updates()
		events := obtain(t, "*.example.test", "example.test")
		if n := f.Updates() - before; n != 2 {
			t.Errorf("%d acme-dns updates; want 2", n)
		}
		if n := count(events, progress.Publishing); n != 2 {
			t.Errorf("%d publishing events; want one round of two", n)
		}
	})
	// Four values at one name: two rounds of a pair each, every value seen
	// by the CA before the next round pushes it out.
	t.Run("four-values-two-rounds", func(t *testing.T) {
		before := f.Updates()
		obtain(t, "*.example.test", "example.test", "www.example.test", "*.www.example.test")
		if n := f.Updates() - before; n != 4 {
			t.Errorf("%d acme-dns updates; want 4", n)
		}
	})
}

func count(events []progress.Event, stage progress.Stage) int {
	n := 0
	for _, e := range events {
		if e.Stage == stage {
			n++
		}
	}
	return n
}

func leafOf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// iterativeResolver stands in for a CA's recursive resolver: starting at
// the user's authoritative server it follows referrals (by glue) and
// CNAMEs, asking each server without recursion, and answers with the whole
// chain. It serves UDP and TCP on 127.0.0.1 and returns the address.
func iterativeResolver(t *testing.T, start netip.AddrPort) string {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.RecursionAvailable = true
		if len(req.Question) == 1 {
			resolve(resp, start, req.Question[0])
		}
		_ = w.WriteMsg(resp)
	})
	pc, ln, err := dnstest.ListenPair()
	if err != nil {
		t.Fatal(err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: ln, Handler: handler}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return pc.LocalAddr().String()
}

func resolve(resp *dns.Msg, start netip.AddrPort, q dns.Question) {
	server, name := start, q.Name
	for range 12 {
		m := new(dns.Msg)
		m.SetQuestion(name, q.Qtype)
		m.RecursionDesired = false
		r, err := dns.Exchange(m, server.String())
		if err != nil {
			resp.Rcode = dns.RcodeServerFailure
			return
		}
		resp.Rcode = r.Rcode
		if r.Authoritative || len(r.Answer) > 0 {
			resp.Answer = append(resp.Answer, r.Answer...)
			var cname string
			for _, rr := range r.Answer {
				if rr.Header().Rrtype == q.Qtype {
					return
				}
				if c, ok := rr.(*dns.CNAME); ok {
					cname = c.Target
				}
			}
			if cname == "" || q.Qtype == dns.TypeCNAME {
				resp.Ns = r.Ns
				return
			}
			server, name = start, cname
			continue
		}
		glue := glueOf(r)
		if !glue.IsValid() {
			resp.Rcode = dns.RcodeServerFailure
			return
		}
		server = netip.AddrPortFrom(glue, 53)
	}
	resp.Rcode = dns.RcodeServerFailure
}

// glueOf returns the address of the first NS of a referral.
func glueOf(r *dns.Msg) netip.Addr {
	for _, rr := range r.Ns {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		for _, x := range r.Extra {
			if a, ok := x.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, ns.Ns) {
				addr, _ := netip.AddrFromSlice(a.A.To4())
				return addr
			}
		}
	}
	return netip.Addr{}
}
