package core

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// zoneProvider is an in-process provider that is also the authoritative
// server of its zone (miekg/dns on 127.0.0.1), so the engine runs against a
// real Pebble validating through real DNS. failPresent / failCleanUp make
// it refuse calls.
type zoneProvider struct {
	zone string
	addr string // host:port of its DNS server

	mu          sync.Mutex
	txt         map[string][]string
	failPresent bool
	failCleanUp bool
	presents    int
	cleanups    int
}

func startZoneProvider(t *testing.T, zone string) *zoneProvider {
	t.Helper()
	p := &zoneProvider{zone: dns.Fqdn(zone), txt: map[string][]string{}}
	pc, ln, err := dnstest.ListenPair()
	if err != nil {
		t.Fatal(err)
	}
	p.addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: p}
	tcp := &dns.Server{Listener: ln, Handler: p}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	return p
}

func (p *zoneProvider) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: 1}
	}
	switch {
	case !dns.IsSubDomain(p.zone, name):
		m.Rcode = dns.RcodeRefused
	case q.Qtype == dns.TypeSOA && name == p.zone:
		m.Answer = append(m.Answer, &dns.SOA{Hdr: hdr(dns.TypeSOA), Ns: "ns." + p.zone, Mbox: "h." + p.zone, Serial: 1, Refresh: 60, Retry: 60, Expire: 600, Minttl: 1})
	case q.Qtype == dns.TypeNS && name == p.zone:
		m.Answer = append(m.Answer, &dns.NS{Hdr: hdr(dns.TypeNS), Ns: "ns." + p.zone})
	case q.Qtype == dns.TypeA && name == "ns."+p.zone:
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.IPv4(127, 0, 0, 1)})
	case q.Qtype == dns.TypeTXT:
		p.mu.Lock()
		for _, v := range p.txt[name] {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: []string{v}})
		}
		p.mu.Unlock()
	}
	if len(m.Answer) == 0 && m.Rcode == dns.RcodeSuccess {
		m.Ns = append(m.Ns, &dns.SOA{Hdr: dns.RR_Header{Name: p.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 1},
			Ns: "ns." + p.zone, Mbox: "h." + p.zone, Serial: 1, Minttl: 1})
	}
	_ = w.WriteMsg(m)
}

func (p *zoneProvider) Present(_ context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.presents++
	if p.failPresent {
		return nil, plugin.Errorf(plugin.CodeAuth, false, "bad token")
	}
	var out []plugin.Result
	for _, r := range recs {
		if !slices.Contains(p.txt[r.FQDN], r.Value) {
			p.txt[r.FQDN] = append(p.txt[r.FQDN], r.Value)
		}
		out = append(out, plugin.Result{ID: r.ID, State: []byte("s")})
	}
	return out, nil
}

func (p *zoneProvider) CleanUp(_ context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cleanups++
	if p.failCleanUp {
		return nil, plugin.Errorf(plugin.CodeOther, true, "API down")
	}
	var out []plugin.Result
	for _, r := range recs {
		p.txt[r.FQDN] = slices.DeleteFunc(p.txt[r.FQDN], func(v string) bool { return v == r.Value })
		if len(p.txt[r.FQDN]) == 0 {
			delete(p.txt, r.FQDN)
		}
		out = append(out, plugin.Result{ID: r.ID})
	}
	return out, nil
}

func (p *zoneProvider) records() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.txt {
		n += len(v)
	}
	return n
}

type engineEnv struct {
	prov   *zoneProvider
	pebble *testenv.Pebble
	store  *storage.FS
}

func startEngineEnv(t *testing.T) *engineEnv {
	t.Helper()
	return startEngineEnvWith(t, testenv.PebbleOptions{})
}

// startEngineEnvWith starts the environment with Pebble options (its DNS
// server and Retry-After settings are the environment's own).
func startEngineEnvWith(t *testing.T, opts testenv.PebbleOptions) *engineEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	prov := startZoneProvider(t, "engine.test")
	opts.DNSServer, opts.RetryAfterAuthz, opts.RetryAfterOrder = prov.addr, -1, -1
	pebble := testenv.StartPebble(t, opts)
	store, err := storage.NewFS(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return &engineEnv{prov: prov, pebble: pebble, store: store}
}

func (e *engineEnv) engine(t *testing.T, obs progress.Observer) *Engine {
	t.Helper()
	eng, err := New(Config{Storage: e.store, Provider: e.prov, HTTPClient: e.pebble.HTTPClient, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func (e *engineEnv) request(domains ...string) Request {
	_, port, _ := net.SplitHostPort(e.prov.addr)
	p, _ := strconv.Atoi(port)
	return Request{
		Domains: domains, DirectoryURL: e.pebble.DirectoryURL, AgreeTOS: true,
		Resolvers: []string{e.prov.addr}, NameserverPort: p, PropagationTimeout: 10 * time.Second,
	}
}

func TestObtainStoresVerifiableCertificate(t *testing.T) {
	env := startEngineEnv(t)
	ctx := t.Context()
	var mu sync.Mutex
	stages := map[string][]progress.Stage{}
	obs := progress.ObserverFunc(func(_ context.Context, ev progress.Event) {
		mu.Lock()
		stages[ev.Identifier] = append(stages[ev.Identifier], ev.Stage)
		mu.Unlock()
	})
	res, err := env.engine(t, obs).Obtain(ctx, env.request("*.engine.test", "engine.test"))
	if err != nil {
		t.Fatal(err)
	}
	if res.CertName != "_.engine.test" || !slices.Equal(res.Domains, []string{"*.engine.test", "engine.test"}) || res.CleanupErrors != nil {
		t.Errorf("result %+v", res)
	}
	// One Present for the zone: wildcard and apex together.
	if env.prov.presents != 1 || env.prov.records() != 0 {
		t.Errorf("presents %d, records left %d; want 1 and 0", env.prov.presents, env.prov.records())
	}
	b, err := os.ReadFile(res.Files.FullChain)
	if err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	roots, err := env.pebble.Roots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: "x.engine.test", Roots: roots, Intermediates: inter}); err != nil {
		t.Errorf("chain: %v", err)
	}
	for _, id := range []string{"*.engine.test", "engine.test"} {
		got := stages[id]
		for _, want := range []progress.Stage{progress.Pending, progress.Publishing, progress.Propagating, progress.Propagated, progress.Validating, progress.Valid, progress.CleanedUp} {
			if !slices.Contains(got, want) {
				t.Errorf("%s: stages %v lack %s", id, got, want)
			}
		}
	}
	if !slices.Contains(stages[""], progress.Stored) {
		t.Errorf("order stages %v lack stored", stages[""])
	}
}

// A provider that refuses Present: KindDNS, no certificate, and the
// order's pending authorizations are deactivated at the CA.
func TestObtainProviderFailureDeactivates(t *testing.T) {
	env := startEngineEnv(t)
	ctx := t.Context()
	env.prov.failPresent = true
	var orderURL string
	obs := progress.ObserverFunc(func(_ context.Context, ev progress.Event) {
		if ev.Stage == progress.Order {
			orderURL = ev.Detail
		}
	})
	_, err := env.engine(t, obs).Obtain(ctx, env.request("fail.engine.test"))
	if KindOf(err) != KindDNS || !strings.Contains(err.Error(), "bad token") {
		t.Fatalf("err = %v (kind %v), want a DNS error naming the provider's message", err, KindOf(err))
	}
	if names := list(t, env.store, "live"); len(names) != 0 {
		t.Errorf("live/ = %v after failure", names)
	}
	client, err := acme.New(acme.Options{DirectoryURL: env.pebble.DirectoryURL, HTTPClient: env.pebble.HTTPClient})
	if err != nil {
		t.Fatal(err)
	}
	acct := storedAccount(t, env, client)
	order, err := client.GetOrder(ctx, acct, orderURL)
	if err != nil {
		t.Fatal(err)
	}
	az, err := client.GetAuthorization(ctx, acct, order.Authorizations[0])
	if err != nil {
		t.Fatal(err)
	}
	if az.Status != acme.StatusDeactivated {
		t.Errorf("authorization is %s, want deactivated", az.Status)
	}
}

func storedAccount(t *testing.T, env *engineEnv, client *acme.Client) acme.Account {
	t.Helper()
	ctx := t.Context()
	cas := list(t, env.store, "accounts")
	ids := list(t, env.store, "accounts/"+cas[0])
	kb, err := env.store.Get(ctx, "accounts/"+cas[0]+"/"+ids[0]+"/key.pem")
	if err != nil {
		t.Fatal(err)
	}
	key, err := decodeKey(kb)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := client.FindAccount(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

// Records whose cleanup failed stay journaled; the next order removes them
// before doing anything else, and reuses the account.
func TestObtainRecoversJournal(t *testing.T) {
	env := startEngineEnv(t)
	ctx := t.Context()
	env.prov.failCleanUp = true
	res, err := env.engine(t, nil).Obtain(ctx, env.request("a.engine.test"))
	if err != nil {
		t.Fatal(err) // a failed cleanup does not fail the order
	}
	// ... but the caller hears of it, in JSON too.
	if len(res.CleanupErrors) != 1 || !strings.Contains(res.CleanupErrors[0].Error(), "API down") {
		t.Errorf("CleanupErrors = %v, want the provider's refusal", res.CleanupErrors)
	}
	if b, err := json.Marshal(res); err != nil || !strings.Contains(string(b), `"cleanup_errors":["removing challenge records: `) {
		t.Errorf("JSON %s, %v", b, err)
	}
	if env.prov.records() != 1 {
		t.Fatalf("records = %d, want the one whose cleanup failed", env.prov.records())
	}
	if names := list(t, env.store, "journal"); len(names) == 0 {
		t.Fatal("journal empty although cleanup failed")
	}
	env.prov.failCleanUp = false
	if _, err := env.engine(t, nil).Obtain(ctx, env.request("b.engine.test")); err != nil {
		t.Fatal(err)
	}
	if n := env.prov.records(); n != 0 {
		t.Errorf("records = %d after recovery, want 0", n)
	}
	if names := list(t, env.store, "journal"); len(names) != 0 {
		t.Errorf("journal = %v after recovery", names)
	}
	cas := list(t, env.store, "accounts")
	if ids := list(t, env.store, "accounts/"+cas[0]); len(ids) != 1 {
		t.Errorf("%d accounts, want 1 reused", len(ids))
	}
}

// Cancelling mid-order still removes the records (detached cleanup).
func TestObtainCancelledCleansUp(t *testing.T) {
	env := startEngineEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	obs := progress.ObserverFunc(func(_ context.Context, ev progress.Event) {
		if ev.Stage == progress.Propagating {
			cancel()
		}
	})
	_, err := env.engine(t, obs).Obtain(ctx, env.request("c.engine.test"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if env.prov.records() != 0 || env.prov.cleanups == 0 {
		t.Errorf("records %d, cleanups %d after cancel", env.prov.records(), env.prov.cleanups)
	}
}

func TestRequestValidation(t *testing.T) {
	t.Parallel()
	e, err := New(Config{Storage: &storage.FS{Root: t.TempDir()}, Provider: &zoneProvider{}})
	if err != nil {
		t.Fatal(err)
	}
	base := Request{Domains: []string{"example.com"}, DirectoryURL: "https://ca.invalid/dir", Resolvers: []string{"127.0.0.1:53"}}
	for name, mod := range map[string]func(*Request){
		"ip":          func(r *Request) { r.Domains = []string{"192.0.2.1"} },
		"wildcard":    func(r *Request) { r.Domains = []string{"a.*.example.com"} },
		"cert name":   func(r *Request) { r.CertName = "../x" },
		"key type":    func(r *Request) { r.KeyType = "dsa" },
		"no resolver": func(r *Request) { r.Resolvers = nil },
		"no server":   func(r *Request) { r.DirectoryURL = "" },
	} {
		r := base
		mod(&r)
		if _, err := e.Obtain(t.Context(), r); KindOf(err) != KindInput {
			t.Errorf("%s: err %v (kind %v), want KindInput", name, err, KindOf(err))
		}
	}
	if _, err := os.Stat(filepath.Join(e.store.(*storage.FS).Root, "locks")); !os.IsNotExist(err) {
		t.Error("bad input wrote to storage")
	}
}

func TestParsers(t *testing.T) {
	t.Parallel()
	for _, k := range acme.KeyTypes() {
		key, err := acme.GenerateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		pemKey, err := encodeKey(key)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeKey(pemKey)
		if err != nil || !back.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
			t.Errorf("%s: key round trip failed: %v", k, err)
		}
		if k == acme.KeyECDSAP256 {
			csr, err := createCSR(key, []string{"*.example.com", "example.com"})
			if err != nil {
				t.Fatal(err)
			}
			r, err := x509.ParseCertificateRequest(csr)
			if err != nil || !slices.Equal(r.DNSNames, []string{"*.example.com", "example.com"}) || r.CheckSignature() != nil {
				t.Errorf("CSR %v %v", r.DNSNames, err)
			}
		}
	}
	if got := DefaultCertName([]string{"*.example.com", "example.com"}); got != "_.example.com" {
		t.Errorf("DefaultCertName = %q", got)
	}
	got, err := NormalizeDomains([]string{"WWW.Example.com.", "www.example.com", "*.example.com"})
	if err != nil || !slices.Equal(got, []string{"www.example.com", "*.example.com"}) {
		t.Errorf("NormalizeDomains = %v, %v", got, err)
	}
}

// list lists prefix in s, failing the test if it cannot.
func list(t testing.TB, s storage.Storage, prefix string) []string {
	t.Helper()
	names, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("listing %s: %v", prefix, err)
	}
	return names
}
