package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// benchLifecycle is a state directory with n lineages obtained through a
// counting proxy in front of Pebble.
func benchLifecycle(b *testing.B, cfg testenv.BINDConfig, names ...string) (*lifecycle, []string) {
	b.Helper()
	if testing.Short() {
		b.Skip("needs BIND9, Pebble and root")
	}
	bin := binaries(b)
	bind := testenv.StartBIND(b, cfg)
	primary := bind.Primary.String() + ":53"
	pebble := testenv.StartPebble(b, testenv.PebbleOptions{DNSServer: chasingResolver(b, primary),
		NonceReject: -1, RetryAfterAuthz: -1, RetryAfterOrder: -1})
	e := &e2eEnv{bin: bin, bind: bind, pebble: pebble}
	home := b.TempDir()
	l := &lifecycle{e2eEnv: e, proxy: startCountingProxy(b, e), home: home, state: filepath.Join(home, "state")}
	env := l.rfc2136Env(home)
	for _, n := range names {
		r := zonecert(b.Context(), b, bin, env, "obtain",
			"--server", l.proxy.URL, "--ca-bundle", l.proxy.Bundle, "--agree-tos",
			"--dns", "rfc2136", "--plugin-dir", bin, "--dns-resolver", bind.Primary.String(),
			"--path", l.state, "-d", n)
		if r.code != 0 {
			b.Fatalf("obtain %s: exit %d\n%s", n, r.code, r.stderr)
		}
	}
	return l, env
}

// dropChecks removes the cached renewal checks, as if every CA's
// Retry-After had passed.
func dropChecks(b *testing.B, state string) {
	b.Helper()
	files, _ := filepath.Glob(filepath.Join(state, "renewal", "*.json"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		var plan map[string]any
		if err := json.Unmarshal(raw, &plan); err != nil {
			b.Fatal(err)
		}
		delete(plan, "check")
		out, _ := json.Marshal(plan)
		if err := os.WriteFile(f, out, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenewNothingDue50 measures `zonecert renew` over 50 lineages of
// which none is due, as an hourly cron job runs it: "cold" asks the CA
// (every cached check expired), "cached" runs within the CA's Retry-After.
// Reported: wall time per run (ns/op), HTTP requests to the CA per run, and
// orders (must be 0).
func BenchmarkRenewNothingDue50(b *testing.B) {
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprintf("n%02d.example.test", i)
	}
	l, env := benchLifecycle(b, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}}, names...)
	for _, mode := range []string{"cold", "cached"} {
		b.Run(mode, func(b *testing.B) {
			requests, orderCount := 0, 0
			for b.Loop() {
				if mode == "cold" {
					b.StopTimer()
					dropChecks(b, l.state)
					b.StartTimer()
				}
				l.proxy.take()
				r := zonecert(b.Context(), b, l.bin, env, "renew", "--path", l.state, "--ca-bundle", l.proxy.Bundle)
				if r.code != 0 || strings.Count(r.stdout, "not due") != len(names) {
					b.Fatalf("renew: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
				}
				c := l.proxy.take()
				requests += total(c)
				orderCount += orders(c)
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
			b.ReportMetric(float64(orderCount)/float64(b.N), "orders/op")
		})
	}
}

// BenchmarkRenewDueLaggingSecondary measures one due renewal (renew
// --force of one lineage) when the zone's secondary serves changes a known
// lag after the primary. Reported: wall/lag, the ratio to the floor.
func BenchmarkRenewDueLaggingSecondary(b *testing.B) {
	const lag = 2 * time.Second
	l, env := benchLifecycle(b, testenv.BINDConfig{
		Zones:     []testenv.Zone{{Name: "example.test"}},
		Secondary: true, SecondaryLag: lag,
	}, "due.example.test")
	var wall time.Duration
	for b.Loop() {
		start := time.Now()
		r := zonecert(b.Context(), b, l.bin, env, "renew", "--path", l.state, "--ca-bundle", l.proxy.Bundle,
			"--force", "--cert-name", "due.example.test")
		wall += time.Since(start)
		if r.code != 0 || !strings.Contains(r.stdout, "renewed") {
			b.Fatalf("renew: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}
	b.ReportMetric(float64(wall)/float64(b.N)/float64(lag), "wall/lag")
}
