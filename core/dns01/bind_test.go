package dns01

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
)

// testLag is the secondary's known lag behind the primary.
const testLag = time.Second

// TestWithBIND runs the engine against a real BIND9 primary (two
// addresses) and a secondary that lags it by testLag, plus three broken
// name servers: one answers SERVFAIL, one never answers, one has no address. Subtests that check
// the lag publish in zones nobody else touches, so no other change
// carries their record to the secondary early.
func TestWithBIND(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs BIND9 and root")
	}
	servfail := testenv.LoopbackAddr(t)
	startFake(t, netip.AddrPortFrom(servfail, 53).String(), func(w dns.ResponseWriter, r *dns.Msg, _ bool) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
	})
	blackhole := testenv.LoopbackAddr(t)
	pc, err := net.ListenPacket("udp4", netip.AddrPortFrom(blackhole, 53).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })

	b := testenv.StartBIND(t, testenv.BINDConfig{
		Zones: []testenv.Zone{
			{Name: "example.test", Records: []string{
				"_acme-challenge.app CNAME c1.example.test.",
				"c1 CNAME final.other.test.",
				"_acme-challenge.loop CNAME l2.example.test.",
				"l2 CNAME _acme-challenge.loop.example.test.",
				"*.wild CNAME hijack.other.test.",
			}},
			{Name: "sub.example.test"},
			{Name: "other.test"},
			{Name: "lag.test"},
			{Name: "nowait.test"},
			{Name: "cancel.test"},
			{Name: "bad.test", Records: []string{
				"@ NS ns3", "ns3 A " + servfail.String(),
				"@ NS ns4", "ns4 A " + blackhole.String(),
				"@ NS ns5.nowhere.test.", // no address anywhere: skipped, as a CA would
			}},
		},
		PrimaryExtraAddrs: 1,
		Secondary:         true,
		SecondaryLag:      testLag,
	})

	t.Run("wildcard and apex wait for the lagging secondary", func(t *testing.T) {
		t.Parallel()
		var atPresent [][]string
		p := &updateProvider{bind: b}
		p.afterPresent = func(recs []plugin.Record) {
			got, err := b.TXT(context.Background(), b.Secondary, recs[0].FQDN)
			if err != nil {
				t.Errorf("asking the secondary: %v", err)
			}
			atPresent = append(atPresent, got)
		}
		obs := &progressLog{}
		cfg := testConfig(b)
		cfg.Observer = obs
		j := &MemJournal{}
		s := mustSolver(t, cfg, p, j)
		v1, v2 := txtValue("wild.key"), txtValue("apex.key")
		batch, err := s.Prepare(t.Context(), []Challenge{{"*.lag.test", v1}, {"lag.test", v2}})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range batch.Items {
			if it.FQDN != "_acme-challenge.lag.test." || it.Zone != "lag.test." || len(it.CNAMEs) != 0 {
				t.Errorf("item %+v", it)
			}
		}
		if err := s.Publish(t.Context(), batch, time.Time{}); err != nil {
			t.Fatal(err)
		}
		// Skipping the wait would have failed: the secondary had neither
		// value when Present returned.
		if len(atPresent) != 1 || len(atPresent[0]) != 0 {
			t.Errorf("secondary served %q when Present returned; the lag did not apply", atPresent)
		}
		// Publish returned only once every server had both values.
		assertServed(t, b, "_acme-challenge.lag.test", v1, true)
		assertServed(t, b, "_acme-challenge.lag.test", v2, true)
		if p.presents["lag.test."] != 1 {
			t.Errorf("Present calls = %v; want one for the zone", p.presents)
		}
		for _, id := range []string{"*.lag.test", "lag.test"} {
			if st := obs.stages(id); !slices.Equal(st, []progress.Stage{progress.Publishing, progress.Propagating, progress.Propagated}) {
				t.Errorf("stages of %s = %v", id, st)
			}
		}
		if n := obs.maxTotal(); n != 3 {
			t.Errorf("waited on %d addresses; want 3 (ns1 has two, ns2 one)", n)
		}
		if err := s.CleanUp(context.WithoutCancel(t.Context()), batch); err != nil {
			t.Fatal(err)
		}
		got, err := b.TXT(t.Context(), b.Primary, "_acme-challenge.lag.test")
		if err != nil || len(got) != 0 {
			t.Errorf("after CleanUp the primary serves %q, %v", got, err)
		}
		if left := journalEntries(t, j); len(left) != 0 {
			t.Errorf("journal after CleanUp: %d entries", len(left))
		}
	})

	t.Run("without the wait the secondary is not ready", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(b)
		cfg.Wait = WaitNone
		s := mustSolver(t, cfg, &updateProvider{bind: b}, &MemJournal{})
		v := txtValue("nowait")
		batch, err := s.Prepare(t.Context(), []Challenge{{"nowait.test", v}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.CleanUp(context.WithoutCancel(t.Context()), batch)
		if err := s.Publish(t.Context(), batch, time.Time{}); err != nil {
			t.Fatal(err)
		}
		// A CA asking the secondary now would fail the challenge.
		got, err := b.TXT(t.Context(), b.Secondary, "_acme-challenge.nowait.test")
		if err != nil || slices.Contains(got, v) {
			t.Errorf("secondary right after Publish(WaitNone) = %q, %v; want the value missing", got, err)
		}
	})

	t.Run("CNAME chain into another zone", func(t *testing.T) {
		t.Parallel()
		p := &updateProvider{bind: b}
		s := mustSolver(t, testConfig(b), p, &MemJournal{})
		v := txtValue("cname")
		batch, err := s.Prepare(t.Context(), []Challenge{{"app.example.test", v}})
		if err != nil {
			t.Fatal(err)
		}
		it := batch.Items[0]
		if it.FQDN != "final.other.test." || it.Zone != "other.test." ||
			!slices.Equal(it.CNAMEs, []string{"_acme-challenge.app.example.test.", "c1.example.test."}) {
			t.Fatalf("item %+v", it)
		}
		if err := s.Publish(t.Context(), batch, time.Time{}); err != nil {
			t.Fatal(err)
		}
		assertServed(t, b, "final.other.test", v, true)
		if err := s.CleanUp(context.WithoutCancel(t.Context()), batch); err != nil {
			t.Fatal(err)
		}
		if p.presents["other.test."] != 1 || len(p.presents) != 1 {
			t.Errorf("Present calls %v", p.presents)
		}
	})

	t.Run("delegated sub-zone on the same servers", func(t *testing.T) {
		t.Parallel()
		p := &updateProvider{bind: b}
		s := mustSolver(t, testConfig(b), p, &MemJournal{})
		batch, err := s.Prepare(t.Context(), []Challenge{
			{"www.sub.example.test", txtValue("sub")}, {"*.sub.example.test", txtValue("subwild")}, {"mixed.example.test", txtValue("parent")},
		})
		if err != nil {
			t.Fatal(err)
		}
		zones := map[string]string{}
		for _, it := range batch.Items {
			zones[it.Identifier] = it.Zone
		}
		want := map[string]string{"www.sub.example.test": "sub.example.test.", "*.sub.example.test": "sub.example.test.", "mixed.example.test": "example.test."}
		if fmt.Sprint(zones) != fmt.Sprint(want) {
			t.Fatalf("zones %v; want %v", zones, want)
		}
		if err := s.Publish(t.Context(), batch, time.Time{}); err != nil {
			t.Fatal(err)
		}
		assertServed(t, b, "_acme-challenge.www.sub.example.test", txtValue("sub"), true)
		assertServed(t, b, "_acme-challenge.sub.example.test", txtValue("subwild"), true)
		if err := s.CleanUp(context.WithoutCancel(t.Context()), batch); err != nil {
			t.Fatal(err)
		}
		if p.presents["sub.example.test."] != 1 || p.presents["example.test."] != 1 {
			t.Errorf("Present calls %v; want one per zone", p.presents)
		}
	})

	t.Run("CNAME loop", func(t *testing.T) {
		t.Parallel()
		s := mustSolver(t, testConfig(b), &updateProvider{bind: b}, &MemJournal{})
		_, err := s.Prepare(t.Context(), []Challenge{{"loop.example.test", "v"}})
		if !errors.Is(err, ErrCNAMELoop) {
			t.Fatalf("Prepare error %v; want ErrCNAMELoop", err)
		}
		errContainsAll(t, err, "_acme-challenge.loop.example.test. → l2.example.test. → _acme-challenge.loop.example.test.")
	})

	t.Run("wildcard CNAME into a zone the provider cannot write", func(t *testing.T) {
		t.Parallel()
		p := &updateProvider{bind: b, zones: []string{"example.test."}}
		j := &MemJournal{}
		s := mustSolver(t, testConfig(b), p, j)
		batch, err := s.Prepare(t.Context(), []Challenge{{"host.wild.example.test", "v"}})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Publish(t.Context(), batch, time.Time{})
		var pe *PublishError
		if !errors.As(err, &pe) {
			t.Fatalf("Publish error %v; want a PublishError", err)
		}
		errContainsAll(t, err, "cannot write zone other.test.", "_acme-challenge.host.wild.example.test. → hijack.other.test.", "wildcard")
		if left := journalEntries(t, j); len(left) != 0 {
			t.Errorf("a refused record stays journaled: %v", left)
		}
		if err := s.CleanUp(context.WithoutCancel(t.Context()), batch); err != nil {
			t.Errorf("CleanUp after a refused Present: %v", err)
		}
	})

	t.Run("zone override and provider zone list", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(b)
		cfg.ZoneOverrides = map[string]string{"www.sub.example.test.": "example.test."}
		s := mustSolver(t, cfg, &updateProvider{bind: b}, &MemJournal{})
		batch, err := s.Prepare(t.Context(), []Challenge{{"www.sub.example.test", "v"}})
		if err != nil || batch.Items[0].Zone != "example.test." {
			t.Fatalf("with an override: %+v, %v; want zone example.test.", batch, err)
		}
		lp := listingProvider{updateProvider: &updateProvider{bind: b}, listed: []string{"example.test", "other.test."}}
		s = mustSolver(t, testConfig(b), lp, &MemJournal{})
		_, err = s.Prepare(t.Context(), []Challenge{{"www.sub.example.test", "v"}})
		var zm *ZoneMismatchError
		if !errors.As(err, &zm) || zm.Zone != "sub.example.test." {
			t.Fatalf("Prepare error %v; want a ZoneMismatchError for sub.example.test.", err)
		}
		errContainsAll(t, err, "_acme-challenge.www.sub.example.test.", "example.test.")
		if _, err := s.Prepare(t.Context(), []Challenge{{"ok.example.test", "v"}, {"app.example.test", "w"}}); err != nil {
			t.Errorf("listed zones: %v", err)
		}
	})

	t.Run("alias", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(b)
		cfg.Aliases = map[string]string{"aliased.example.test": "_acme-challenge.target.other.test."}
		s := mustSolver(t, cfg, &updateProvider{bind: b}, &MemJournal{})
		batch, err := s.Prepare(t.Context(), []Challenge{{"*.aliased.example.test", "v"}})
		if err != nil {
			t.Fatal(err)
		}
		if it := batch.Items[0]; it.Name != "_acme-challenge.target.other.test." || it.FQDN != it.Name || it.Zone != "other.test." {
			t.Errorf("item %+v", it)
		}
	})

	t.Run("broken name servers are named", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(b)
		cfg.PropagationTimeout = 3 * testLag
		cfg.QueryTimeout = 300 * time.Millisecond
		obs := &progressLog{}
		cfg.Observer = obs
		s := mustSolver(t, cfg, &updateProvider{bind: b}, &MemJournal{})
		batch, err := s.Prepare(t.Context(), []Challenge{{"x.bad.test", "v"}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.CleanUp(context.WithoutCancel(t.Context()), batch)
		err = s.Publish(t.Context(), batch, time.Time{})
		var pe *PropagationError
		if !errors.As(err, &pe) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Publish error %v; want a PropagationError", err)
		}
		got := map[string]string{}
		for _, m := range pe.Missing {
			got[m.Nameserver+" "+m.Addr.String()] = m.LastAnswer
			if m.FQDN != "_acme-challenge.x.bad.test." || !slices.Equal(m.Values, []string{"v"}) {
				t.Errorf("missing %+v", m)
			}
		}
		if len(got) != 2 || got["ns3.bad.test. "+servfail.String()+":53"] != "SERVFAIL" ||
			!strings.Contains(got["ns4.bad.test. "+blackhole.String()+":53"], "timeout") {
			t.Errorf("missing = %v; want ns3 (SERVFAIL) and ns4 (timeout) only", got)
		}
		errContainsAll(t, err, "ns3.bad.test.", servfail.String(), "ns4.bad.test.", blackhole.String(), "timed out")
		if st := obs.stages("x.bad.test"); st[len(st)-1] != progress.Failed {
			t.Errorf("stages %v; want failed last", st)
		}
		// A deadline before the timeout (the authorization's expiry) wins.
		started := time.Now()
		err = s.Publish(t.Context(), batch, started.Add(500*time.Millisecond))
		if !errors.As(err, &pe) || !pe.Expiry {
			t.Errorf("Publish with an early deadline: %v; want the expiry named", err)
		}
	})

	t.Run("cancel during the wait still cleans up", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		p := &updateProvider{bind: b, afterPresent: func([]plugin.Record) { cancel() }}
		j := &MemJournal{}
		s := mustSolver(t, testConfig(b), p, j)
		v := txtValue("cancel")
		batch, err := s.Prepare(ctx, []Challenge{{"cancel.test", v}})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Publish(ctx, batch, time.Time{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Publish error %v; want context.Canceled", err)
		}
		if left := journalEntries(t, j); len(left) != 1 {
			t.Fatalf("journal holds %d entries while the record is out; want 1", len(left))
		}
		if err := s.CleanUp(context.WithoutCancel(ctx), batch); err != nil {
			t.Fatal(err)
		}
		got, err := b.TXT(t.Context(), b.Primary, "_acme-challenge.cancel.test")
		if err != nil || len(got) != 0 {
			t.Errorf("after CleanUp the primary serves %q, %v", got, err)
		}
		if left := journalEntries(t, j); len(left) != 0 {
			t.Errorf("journal after CleanUp: %v", left)
		}
	})

	t.Run("recover after a crash", func(t *testing.T) {
		t.Parallel()
		j := &MemJournal{} // outlives both solvers, as storage would
		cfg := testConfig(b)
		cfg.Wait = WaitNone
		p := &updateProvider{bind: b}
		crashed := mustSolver(t, cfg, p, j)
		v1, v2 := txtValue("crash1"), txtValue("crash2")
		batch, err := crashed.Prepare(t.Context(), []Challenge{{"crash.example.test", v1}, {"crash.other.test", v2}})
		if err != nil {
			t.Fatal(err)
		}
		if err := crashed.Publish(t.Context(), batch, time.Time{}); err != nil {
			t.Fatal(err)
		}
		// The publishing solver never recovers its own live records.
		if n, err := crashed.Recover(t.Context()); n != 0 || err != nil {
			t.Fatalf("Recover on the live solver = %d, %v; want 0", n, err)
		}
		// "Crash": no CleanUp. A new process finds the journal.
		fresh := mustSolver(t, cfg, p, j)
		n, err := fresh.Recover(t.Context())
		if n != 2 || err != nil {
			t.Fatalf("Recover = %d, %v; want 2", n, err)
		}
		for name, v := range map[string]string{"_acme-challenge.crash.example.test": v1, "_acme-challenge.crash.other.test": v2} {
			if got, err := b.TXT(t.Context(), b.Primary, name); err != nil || slices.Contains(got, v) {
				t.Errorf("after Recover %s = %q, %v", name, got, err)
			}
		}
		if left := journalEntries(t, j); len(left) != 0 {
			t.Errorf("journal after Recover: %v", left)
		}
		if p.cleanups != 2 {
			t.Errorf("CleanUp calls = %d; want one per zone", p.cleanups)
		}
	})
}
