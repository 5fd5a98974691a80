package dns01

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/plugin"
)

// fakeZone is an in-process server for odd.test that is both the resolver
// and the zone's only name server (ns.odd.test = 127.0.0.1), for answers
// BIND will not give: truncation, missing AA, delayed visibility.
type fakeZone struct {
	t     *testing.T
	srv   *fakeServer
	delay time.Duration // records become visible this long after Present
	// fixedSerial keeps the serial still, as Route 53 does.
	fixedSerial bool

	mu        sync.Mutex
	txt       map[string][]string // visible values
	serial    uint32
	asked     map[string]int // TXT questions per name
	recursive []string       // challenge names asked with RD=1
}

const fakeApex = "odd.test."

func newFakeZone(t *testing.T) *fakeZone {
	z := &fakeZone{t: t, txt: map[string][]string{}, asked: map[string]int{}, serial: 1}
	z.srv = startFake(t, "127.0.0.1:0", z.serve)
	return z
}

func (z *fakeZone) soa() dns.RR {
	return rr(z.t, "odd.test. 60 IN SOA ns.odd.test. h.odd.test. "+strconv.FormatUint(uint64(z.serial), 10)+" 3600 600 86400 1")
}

func (z *fakeZone) serve(w dns.ResponseWriter, r *dns.Msg, tcp bool) {
	z.mu.Lock()
	defer z.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	if r.RecursionDesired && strings.HasPrefix(name, "_acme-challenge.") {
		z.recursive = append(z.recursive, name)
	}
	switch {
	case name == fakeApex && q.Qtype == dns.TypeSOA:
		m.Answer = append(m.Answer, z.soa())
	case name == fakeApex && q.Qtype == dns.TypeNS:
		m.Answer = append(m.Answer, rr(z.t, "odd.test. 60 IN NS ns.odd.test."))
	case name == "ns.odd.test." && q.Qtype == dns.TypeA:
		m.Answer = append(m.Answer, rr(z.t, "ns.odd.test. 60 IN A 127.0.0.1"))
	case q.Qtype == dns.TypeTXT && z.txt[name] != nil:
		z.asked[name]++
		if strings.HasPrefix(name, "_acme-challenge.big.") && !tcp {
			m.Truncated = true
			break
		}
		if strings.HasPrefix(name, "_acme-challenge.lame.") {
			m.Authoritative = false
		}
		for _, v := range z.txt[name] {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 30}, Txt: []string{v}})
		}
	case dns.IsSubDomain(fakeApex, name):
		if q.Qtype == dns.TypeTXT {
			z.asked[name]++
		}
		if name != fakeApex && !strings.HasPrefix(name, "ns.") {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, z.soa())
	default:
		m.Rcode = dns.RcodeRefused
		m.Authoritative = false
	}
	_ = w.WriteMsg(m)
}

// Present makes the values visible after the zone's delay, all at once,
// and moves the serial, as a real primary applying one update does.
func (z *fakeZone) Present(_ context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	apply := func() {
		z.mu.Lock()
		defer z.mu.Unlock()
		for _, r := range recs {
			z.txt[r.FQDN] = append(z.txt[r.FQDN], r.Value)
		}
		if !z.fixedSerial {
			z.serial++
		}
	}
	if z.delay > 0 {
		time.AfterFunc(z.delay, apply)
	} else {
		apply()
	}
	var out []plugin.Result
	for _, r := range recs {
		out = append(out, plugin.Result{ID: r.ID})
	}
	return out, nil
}

func (z *fakeZone) CleanUp(_ context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	var out []plugin.Result
	for _, r := range recs {
		out = append(out, plugin.Result{ID: r.ID})
	}
	return out, nil
}

func (z *fakeZone) solver(t *testing.T, timeout time.Duration) *Solver {
	cfg := Config{
		Resolvers:          []string{z.srv.addr.String()},
		NameserverPort:     int(z.srv.addr.Port()),
		PropagationTimeout: timeout,
		QueryTimeout:       300 * time.Millisecond,
		PollInterval:       50 * time.Millisecond,
	}
	return mustSolver(t, cfg, z, &MemJournal{})
}

func TestTruncatedAnswerRetriesOverTCP(t *testing.T) {
	t.Parallel()
	z := newFakeZone(t)
	s := z.solver(t, 5*time.Second)
	batch, err := s.Prepare(t.Context(), []Challenge{{"big.odd.test", "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), batch, time.Time{}); err != nil {
		t.Fatal(err)
	}
	z.srv.mu.Lock()
	defer z.srv.mu.Unlock()
	if z.srv.tcpSeen == 0 {
		t.Error("the truncated answer was not retried over TCP")
	}
}

func TestNonAuthoritativeAnswerDoesNotCount(t *testing.T) {
	t.Parallel()
	z := newFakeZone(t)
	// Long enough for several polls even on a loaded machine: with only one
	// round, a query timeout could be the last answer instead of the lame one.
	s := z.solver(t, 3*time.Second)
	batch, err := s.Prepare(t.Context(), []Challenge{{"lame.odd.test", "v"}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Publish(t.Context(), batch, time.Time{})
	var pe *PropagationError
	if !errors.As(err, &pe) || len(pe.Missing) != 1 {
		t.Fatalf("Publish error %v; want one address missing", err)
	}
	if m := pe.Missing[0]; m.Nameserver != "ns.odd.test." || !strings.Contains(m.LastAnswer, "not authoritative") {
		t.Errorf("missing %+v", m)
	}
}

// A batch of names that appear together costs each name one question
// before and one after: in between the wait asks only the SOA and one
// representative name, and either signal (serial or representative)
// triggers the sweep. The challenge names never go to the resolver.
func TestWaitAsksLittle(t *testing.T) {
	t.Parallel()
	for _, fixed := range []bool{false, true} {
		t.Run(fmt.Sprintf("fixedSerial=%v", fixed), func(t *testing.T) {
			t.Parallel()
			testWaitAsksLittle(t, fixed)
		})
	}
}

func testWaitAsksLittle(t *testing.T, fixedSerial bool) {
	z := newFakeZone(t)
	z.delay = 400 * time.Millisecond
	z.fixedSerial = fixedSerial
	s := z.solver(t, 5*time.Second)
	names := []string{"a.odd.test", "b.odd.test", "c.odd.test", "d.odd.test"}
	var chs []Challenge
	for _, n := range names {
		chs = append(chs, Challenge{n, "v-" + n}, Challenge{"*." + n, "w-" + n})
	}
	batch, err := s.Prepare(t.Context(), chs)
	if err != nil {
		t.Fatal(err)
	}
	z.mu.Lock()
	clear(z.asked)
	z.mu.Unlock()
	if err := s.Publish(t.Context(), batch, time.Time{}); err != nil {
		t.Fatal(err)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	rep := 0
	for _, n := range names {
		got := z.asked["_acme-challenge."+n+"."]
		switch {
		case got > 2:
			rep++ // the representative is asked every round
		case got != 2:
			t.Errorf("%s asked %d times; want 2 (before and after the change)", n, got)
		}
	}
	if rep != 1 {
		t.Errorf("asked %v; want exactly one representative name polled each round", z.asked)
	}
	if len(z.recursive) != 0 {
		t.Errorf("challenge names were sent to the resolver: %v", z.recursive)
	}
}

// WaitFixed waits without asking DNS; the zone's records go to the
// provider in one call (plugin/host splits by the plugin's MaxBatch).
func TestWaitFixedOneCallPerZone(t *testing.T) {
	t.Parallel()
	z := newFakeZone(t)
	calls := 0
	counting := &countingProvider{Provider: z, calls: &calls}
	cfg := Config{Resolvers: []string{z.srv.addr.String()}, NameserverPort: int(z.srv.addr.Port()), Wait: WaitFixed(200 * time.Millisecond)}
	s := mustSolver(t, cfg, counting, &MemJournal{})
	batch, err := s.Prepare(t.Context(), []Challenge{{"a.odd.test", "1"}, {"b.odd.test", "2"}, {"c.odd.test", "3"}})
	if err != nil {
		t.Fatal(err)
	}
	before := s.QueryCount()
	started := time.Now()
	if err := s.Publish(t.Context(), batch, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(started); d < 200*time.Millisecond {
		t.Errorf("WaitFixed(200ms) returned after %s", d)
	}
	if s.QueryCount() != before {
		t.Errorf("WaitFixed sent %d DNS queries", s.QueryCount()-before)
	}
	if calls != 1 {
		t.Errorf("Present calls = %d; want 1 for 3 records in one zone", calls)
	}
	if WaitFixed(0) != WaitNone || WaitAuthoritative.String() != "authoritative" || WaitFixed(time.Second).String() != "fixed:1s" {
		t.Error("Wait constructors")
	}
}

type countingProvider struct {
	plugin.Provider
	calls *int
}

func (p *countingProvider) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	*p.calls++
	return p.Provider.Present(ctx, recs)
}

// syncingProvider adds plugin.Syncer to the fake zone.
type syncingProvider struct {
	*fakeZone
	mu     sync.Mutex
	synced []plugin.Record
}

func (p *syncingProvider) WaitForSync(_ context.Context, recs []plugin.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.synced = append(p.synced, recs...)
	return nil
}

func TestSyncerIsAskedBeforeTheWait(t *testing.T) {
	t.Parallel()
	z := newFakeZone(t)
	p := &syncingProvider{fakeZone: z}
	obs := &progressLog{}
	cfg := Config{Resolvers: []string{z.srv.addr.String()}, NameserverPort: int(z.srv.addr.Port()), Observer: obs}
	s := mustSolver(t, cfg, p, &MemJournal{})
	batch, err := s.Prepare(t.Context(), []Challenge{{"s.odd.test", "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), batch, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if len(p.synced) != 1 || p.synced[0].FQDN != "_acme-challenge.s.odd.test." || p.synced[0].Value != "v" {
		t.Errorf("WaitForSync got %+v", p.synced)
	}
	want := []progress.Stage{progress.Publishing, progress.Syncing, progress.Propagating, progress.Propagated}
	if got := obs.stages("s.odd.test"); !slices.Equal(got, want) {
		t.Errorf("stages %v; want %v", got, want)
	}
}
