package dns01

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
)

// updateProvider is an in-test plugin.Provider that writes to the test
// BIND primary with TSIG-signed RFC 2136 updates, one message per call.
type updateProvider struct {
	bind *testenv.BIND
	// zones it may write; empty means any.
	zones []string
	// listZones makes it a plugin.ZoneLister too (see listingProvider).
	afterPresent func(records []plugin.Record)

	mu       sync.Mutex
	presents map[string]int // zone → Present calls
	cleanups int
}

var _ plugin.Provider = (*updateProvider)(nil)

func (p *updateProvider) state(r plugin.Record) []byte {
	return []byte("rfc2136:" + r.FQDN + ":" + r.Value)
}

func (p *updateProvider) update(ctx context.Context, records []plugin.Record, insert bool) ([]plugin.Result, error) {
	zone := records[0].Zone
	results := make([]plugin.Result, 0, len(records))
	var rrs []string
	for _, r := range records {
		if r.Zone != zone {
			return nil, plugin.Errorf(plugin.CodeOther, false, "records of several zones in one call")
		}
		if len(p.zones) > 0 && !slices.Contains(p.zones, r.Zone) {
			results = append(results, plugin.Result{ID: r.ID, Err: plugin.Errorf(plugin.CodeZoneNotFound, false, "zone %s is not writable with this key", r.Zone)})
			continue
		}
		if !insert && string(r.State) != string(p.state(r)) {
			results = append(results, plugin.Result{ID: r.ID, Err: plugin.Errorf(plugin.CodeOther, false, "cleanup state %q does not match", r.State)})
			continue
		}
		rrs = append(rrs, fmt.Sprintf("%s 30 IN TXT %q", r.FQDN, r.Value))
		results = append(results, plugin.Result{ID: r.ID, State: p.state(r)})
	}
	if len(rrs) == 0 {
		return results, nil
	}
	var err error
	if insert {
		err = p.bind.Update(ctx, zone, rrs, nil)
	} else {
		err = p.bind.Update(ctx, zone, nil, rrs)
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}

func (p *updateProvider) Present(ctx context.Context, records []plugin.Record) ([]plugin.Result, error) {
	p.mu.Lock()
	if p.presents == nil {
		p.presents = map[string]int{}
	}
	p.presents[records[0].Zone]++
	p.mu.Unlock()
	res, err := p.update(ctx, records, true)
	if err == nil && p.afterPresent != nil {
		p.afterPresent(records)
	}
	return res, err
}

func (p *updateProvider) CleanUp(ctx context.Context, records []plugin.Record) ([]plugin.Result, error) {
	p.mu.Lock()
	p.cleanups++
	p.mu.Unlock()
	return p.update(ctx, records, false)
}

// listingProvider adds plugin.ZoneLister.
type listingProvider struct {
	*updateProvider
	listed []string
}

func (p listingProvider) ListZones(context.Context) ([]string, error) { return p.listed, nil }

// progressLog records Observer calls.
type progressLog struct {
	mu sync.Mutex
	ps []progress.Event
}

func (l *progressLog) Observe(_ context.Context, p progress.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ps = append(l.ps, p)
}

func (l *progressLog) stages(identifier string) []progress.Stage {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []progress.Stage
	for _, p := range l.ps {
		if p.Identifier == identifier && (len(out) == 0 || out[len(out)-1] != p.Stage) {
			out = append(out, p.Stage)
		}
	}
	return out
}

func (l *progressLog) maxTotal() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.ps {
		n = max(n, p.Total)
	}
	return n
}

// testConfig is a Config for the test BIND: the primary doubles as the
// resolver (it is authoritative for every test zone).
func testConfig(b *testenv.BIND) Config {
	return Config{
		Resolvers:          []string{b.Primary.String()},
		PropagationTimeout: 10 * time.Second,
		QueryTimeout:       500 * time.Millisecond,
	}
}

func mustSolver(t testing.TB, cfg Config, p plugin.Provider, j Journal) *Solver {
	t.Helper()
	s, err := NewSolver(cfg, p, j)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// servers returns every address of the test BIND.
func servers(b *testenv.BIND) []netip.Addr {
	out := slices.Clone(b.PrimaryAddrs)
	if b.Secondary.IsValid() {
		out = append(out, b.Secondary)
	}
	return out
}

// assertServed checks that every server serves (or, with want false, does
// not serve) value at name.
func assertServed(t *testing.T, b *testenv.BIND, name, value string, want bool) {
	t.Helper()
	for _, a := range servers(b) {
		got, err := b.TXT(context.WithoutCancel(t.Context()), a, name)
		if err != nil {
			t.Errorf("TXT %s at %s: %v", name, a, err)
			continue
		}
		if slices.Contains(got, value) != want {
			t.Errorf("TXT %s at %s = %q; want %q present=%v", name, a, got, value, want)
		}
	}
}

// fakeServer is an in-process DNS server for hostile or odd answers.
type fakeServer struct {
	addr    netip.AddrPort
	handler func(w dns.ResponseWriter, r *dns.Msg, tcp bool)
	mu      sync.Mutex
	tcpSeen int
}

func startFake(t testing.TB, addr string, h func(w dns.ResponseWriter, r *dns.Msg, tcp bool)) *fakeServer {
	t.Helper()
	f := &fakeServer{handler: h}
	// Listen first, so that a TCP port already taken is an error (or, for
	// port 0, another try) rather than a server that never starts.
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 1; ; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			t.Fatalf("fake DNS server: %v", err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if !strings.HasSuffix(addr, ":0") || attempt == 10 {
			t.Fatalf("fake DNS server: %v", err)
		}
	}
	f.addr = netip.MustParseAddrPort(pc.LocalAddr().String())
	servers := []*dns.Server{
		{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { f.handler(w, r, false) })},
		{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			f.mu.Lock()
			f.tcpSeen++
			f.mu.Unlock()
			f.handler(w, r, true)
		})},
	}
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return f
}

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func errContainsAll(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// txtValue is a challenge's record value for keyAuth (RFC 8555 §8.4).
func txtValue(keyAuth string) string { return acme.DNS01Value(keyAuth) }

// journalEntries lists j, failing the test if it cannot.
func journalEntries(t testing.TB, j Journal) map[string][]byte {
	t.Helper()
	m, err := j.List(t.Context())
	if err != nil {
		t.Fatalf("listing the journal: %v", err)
	}
	return m
}
