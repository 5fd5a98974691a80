package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// BenchmarkRenewDue50 measures issue 20's "50 due lineages renew in one
// `renew` run as fast as the daemon would": 50 lineages of one name each
// over 3 zones are obtained (with --wait none, so setting up does not wait
// out the lag), then one `zonecert renew --force` run at its default
// --max-concurrent renews all of them, with the storm's set-up (Pebble at
// 50 % nonce rejects, a secondary lagging 4 s, UPDATEs counted by a relay
// in front of the primary). Reported: certificates a second of the timed
// run and its UPDATEs. "daemon" runs the same 50 through `zonecert run` at
// its defaults (BenchmarkRenewalStorm's stormOnce), for comparison. Run it
// once: -benchtime 1x.
func BenchmarkRenewDue50(b *testing.B) {
	const certs, zones, lag = 50, 3, 4 * time.Second
	if testing.Short() {
		b.Skip("needs BIND9, Pebble and root")
	}
	b.Run("renew", func(b *testing.B) { renewDue(b, certs, zones, lag) })
	b.Run("daemon", func(b *testing.B) {
		var zs []testenv.Zone
		for z := range zones {
			zs = append(zs, testenv.Zone{Name: fmt.Sprintf("s%d.test", z)})
		}
		bind := testenv.StartBIND(b, testenv.BINDConfig{Zones: zs, Secondary: true, SecondaryLag: lag})
		primary := netip.AddrPortFrom(bind.Primary, 53)
		pebble := testenv.StartPebble(b, testenv.PebbleOptions{DNSServer: chasingResolver(b, primary.String()), NonceReject: 50})
		stormOnce(b, binaries(b), bind, pebble, startUpdateCounter(b, primary), stormCase{certs: certs, zones: zones, lag: lag}, b.TempDir())
	})
}

func renewDue(b *testing.B, certs, zones int, lag time.Duration) {
	bin := binaries(b)
	var zs []testenv.Zone
	for z := range zones {
		zs = append(zs, testenv.Zone{Name: fmt.Sprintf("s%d.test", z)})
	}
	bind := testenv.StartBIND(b, testenv.BINDConfig{Zones: zs, Secondary: true, SecondaryLag: lag})
	primary := netip.AddrPortFrom(bind.Primary, 53)
	pebble := testenv.StartPebble(b, testenv.PebbleOptions{DNSServer: chasingResolver(b, primary.String()), NonceReject: 50})
	counter := startUpdateCounter(b, primary)
	e := &e2eEnv{bin: bin, bind: bind, pebble: pebble}
	home := b.TempDir()
	bundle := filepath.Join(home, "pebble-tls.pem")
	if err := os.WriteFile(bundle, pebble.CABundlePEM, 0o600); err != nil {
		b.Fatal(err)
	}
	state := filepath.Join(home, "state")
	env := append(e.rfc2136Env(home), "RFC2136_NAMESERVER="+counter.addr)
	obtain := func(i int) {
		r := zonecert(b.Context(), b, bin, env, "obtain", "--server", pebble.DirectoryURL, "--ca-bundle", bundle,
			"--agree-tos", "--email", "bench@example.com", "--dns", "rfc2136", "--plugin-dir", bin,
			"--dns-resolver", bind.Primary.String(), "--path", state, "--wait", "none",
			"-d", fmt.Sprintf("h%02d.s%d.test", i, i%zones))
		if r.code != 0 {
			b.Errorf("obtain %d: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	obtain(0) // registers the account
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := 1; i < certs; i++ {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			obtain(i)
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	var wall time.Duration
	var updates int32
	for b.Loop() {
		counter.updates.Store(0)
		start := time.Now()
		r := zonecert(b.Context(), b, bin, env, "renew", "--path", state, "--ca-bundle", bundle, "--force",
			"--wait", "authoritative", "--dns-resolver", bind.Primary.String())
		wall += time.Since(start)
		updates += counter.updates.Load()
		if n := strings.Count(r.stdout, ": renewed"); r.code != 0 || n != certs {
			b.Fatalf("renew: exit %d, %d renewed, want %d\n%s\n%s", r.code, n, certs, r.stdout, r.stderr)
		}
	}
	b.ReportMetric(float64(certs*b.N)/wall.Seconds(), "certs/s")
	b.ReportMetric(float64(updates)/float64(b.N), "UPDATEs")
}
