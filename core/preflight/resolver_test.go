package preflight_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/preflight"
	"github.com/zonecert/zonecert/internal/testenv"
)

// recordingResolver forwards every query to upstream servers in turn (the
// first answer that is not REFUSED wins) and records the names asked.
type recordingResolver struct {
	mu    sync.Mutex
	asked []string
}

func startRecordingResolver(t *testing.T, upstream []string) (string, *recordingResolver) {
	t.Helper()
	addr := netip.AddrPortFrom(testenv.LoopbackAddr(t), 53).String()
	rr := &recordingResolver{}
	srv := &dns.Server{Addr: addr, Net: "udp", Handler: dns.HandlerFunc(func(w dns.ResponseWriter, m *dns.Msg) {
		rr.mu.Lock()
		for _, q := range m.Question {
			rr.asked = append(rr.asked, strings.ToLower(q.Name))
		}
		rr.mu.Unlock()
		c := &dns.Client{Timeout: time.Second}
		for _, u := range upstream {
			r, _, err := c.Exchange(m, u)
			if err == nil && r.Rcode != dns.RcodeRefused {
				_ = w.WriteMsg(r)
				return
			}
		}
		r := new(dns.Msg)
		r.SetRcode(m, dns.RcodeRefused)
		_ = w.WriteMsg(r)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ListenAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return addr, rr
}

// The checks never ask a recursive resolver about a challenge name: its
// negative answer, cached where the CA asks, would outlast the record's
// publication (RFC 2308). They ask the authoritative servers instead.
func TestNeverAsksResolversForChallengeNames(t *testing.T) {
	w := startWorld(t)
	addr, rec := startRecordingResolver(t, w.Resolvers)
	c := preflight.New(preflight.Config{Resolvers: []string{addr}, QueryTimeout: time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	target := preflight.Target{Domains: []string{"direct.ex.test", "good.ex.test", "*.signed.test"}, CAAIdentities: []string{caaID}}
	if fs := c.Doctor(ctx, target); preflight.Worst(fs) == preflight.Error {
		t.Fatalf("the set-up itself fails:\n%s", dump(fs))
	}
	if err := c.Preflight(ctx, target); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.asked) == 0 {
		t.Fatal("the resolver was never asked: the test sees nothing")
	}
	for _, name := range rec.asked {
		if strings.Contains(name, "_acme-challenge") || strings.HasPrefix(name, "good.acme.test") {
			t.Errorf("asked the resolver about %s", name)
		}
	}
}
