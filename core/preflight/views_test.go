package preflight_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/preflight"
	"github.com/zonecert/zonecert/internal/testenv"
)

// A secondary whose serial lags the primary's is named (a warning: the
// wait is as slow as it, but an order can succeed); in step, it passes.
func TestLaggingSecondarySerial(t *testing.T) {
	b := testenv.StartBIND(t, testenv.BINDConfig{Secondary: true, SecondaryLag: time.Minute, Zones: []testenv.Zone{{Name: "lag.test"}}})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := preflight.New(preflight.Config{Resolvers: []string{b.Primary.String() + ":53"}, QueryTimeout: time.Second})
	target := preflight.Target{Domains: []string{"www.lag.test"}}
	fs := only(c.Doctor(ctx, target), preflight.CheckDelegation)
	if preflight.Worst(fs) != preflight.OK {
		t.Fatalf("in step:\n%s", dump(fs))
	}
	if err := b.Update(ctx, "lag.test", []string{"x.lag.test. 60 IN TXT \"bump\""}, nil); err != nil {
		t.Fatal(err)
	}
	fs = only(c.Doctor(ctx, target), preflight.CheckDelegation)
	if preflight.Worst(fs) != preflight.Warning || !strings.Contains(dump(fs), "different SOA serials: 1 at ns2.lag.test. ("+b.Secondary.String()+":53); 2 at ns1.lag.test.") {
		t.Errorf("after the update, want the lagging ns2 named:\n%s", dump(fs))
	}
	// A lagging serial does not stop an order.
	if err := c.Preflight(ctx, target); err != nil {
		t.Errorf("Preflight: %v", err)
	}
}

// Split horizon: one named answers split.test from two views on two
// addresses. The system resolver on the internal view sees another SOA
// than the authoritative (external) servers: a warning; a system
// resolver on a view like the external one passes.
func TestSplitHorizon(t *testing.T) {
	ext, in, same := testenv.LoopbackAddr(t), testenv.LoopbackAddr(t), testenv.LoopbackAddr(t)
	zone := func(serial uint32, ns netip.Addr) testenv.AuthZone {
		return testenv.AuthZone{Name: "split.test.", Text: testenv.ZoneText("split.test.", serial, 1, []string{"ns1.split.test."}, "ns1 A "+ns.String())}
	}
	testenv.StartAuthority(t, testenv.AuthorityConfig{Addrs: []netip.Addr{ext, in, same}, Views: []testenv.AuthView{
		{Addr: ext, Zones: []testenv.AuthZone{zone(1, ext)}},
		{Addr: in, Zones: []testenv.AuthZone{zone(7, ext)}},
		{Addr: same, Zones: []testenv.AuthZone{zone(1, ext)}},
	}})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		system netip.Addr
		want   preflight.Severity
		msg    string
	}{
		{in, preflight.Warning, "serial 7, the authoritative servers ns1.split.test. serial 1: split horizon"},
		{same, preflight.OK, "see the authoritative view"},
	} {
		c := preflight.New(preflight.Config{Resolvers: []string{ext.String() + ":53"}, SystemResolvers: []string{tc.system.String() + ":53"}})
		fs := only(c.Doctor(ctx, preflight.Target{Domains: []string{"split.test"}}), preflight.CheckSplitHorizon)
		if preflight.Worst(fs) != tc.want || !strings.Contains(dump(fs), tc.msg) {
			t.Errorf("system resolver %s: want %s %q:\n%s", tc.system, tc.want, tc.msg, dump(fs))
		}
	}
}
