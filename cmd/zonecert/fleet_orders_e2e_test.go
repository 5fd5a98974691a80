//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/internal/faultproxy"
)

// acmeProxy starts a faultproxy in front of the env's Pebble and writes
// its CA bundle: daemons configured with it order through the proxy.
func acmeProxy(t *testing.T, e *daemonEnv, name string) (*faultproxy.Proxy, acmeVia) {
	t.Helper()
	p, err := faultproxy.Start(e.pebble.DirectoryURL, e.pebble.HTTPClient.Transport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	bundle := filepath.Join(e.dir, name+".pem")
	if err := os.WriteFile(bundle, p.CABundlePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, acmeVia{p.DirectoryURL, bundle}
}

// pollUntil checks cond every interval until it holds or ctx ends.
func pollUntil(ctx context.Context, t *testing.T, what string, every time.Duration, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(every):
		}
	}
}

// Three daemon processes share one config, one etcd and, through one
// counting ACME proxy, one Pebble: each of twenty certificates is ordered
// exactly once across the fleet, as the CA sees it: the proxy reads the
// identifiers of each newOrder request and counts, per name, those the CA
// answered with an order (a request refused with badNonce and sent again
// is one order).
func TestFleetOrdersEachNameOnce(t *testing.T) {
	e, s, table, _ := fleetEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	proxy, via := acmeProxy(t, e, "proxy")
	var certs []daemonCert
	for i := range 20 {
		n := fmt.Sprintf("f%02d", i)
		certs = append(certs, daemonCert{Name: n, Domains: []string{n + ".alpha.test"}, Provider: "alpha"})
	}
	cfg := e.writeConfigVia(t, "fleet.toml", via, "authoritative", certs, table)
	var ds []*daemonProc
	var addrs []string
	for range 3 {
		d := e.startDaemon(t, cfg)
		rec, _ := d.waitRecord(t, 0, 60*time.Second, map[string]string{"msg": "metrics listening"})
		ds, addrs = append(ds, d), append(addrs, rec["addr"].(string))
	}
	// Every daemon has seen every certificate stored (its expiry gauge is
	// set): none is left for a later order.
	for i, addr := range addrs {
		pollUntil(ctx, t, fmt.Sprintf("daemon %d seeing all %d certificates", i, len(certs)), 250*time.Millisecond, func() bool {
			_, body := get(ctx, t, addr, "/metrics")
			return strings.Count(body, "zonecert_certificate_not_after_seconds{") == len(certs)
		})
	}
	var split []string
	for _, addr := range addrs {
		_, body := get(ctx, t, addr, "/metrics")
		split = append(split, fmt.Sprint(metric(body, `zonecert_orders_total{reason="missing"}`)))
	}
	for i, d := range ds {
		if code := d.stop(t, syscall.SIGTERM); code != 0 {
			t.Errorf("daemon %d exited %d", i, code)
		}
	}
	orders := proxy.Orders()
	t.Logf("orders created, per name: %v; newOrder requests (with badNonce retries) %d: %v; per daemon (its own metric): %s",
		orders, proxy.Seen("new-order"), proxy.OrderRequests(), strings.Join(split, "/"))
	var wrong []string
	for _, c := range certs {
		if n := orders[c.Domains[0]]; n != 1 {
			wrong = append(wrong, fmt.Sprintf("%s ordered %d times", c.Domains[0], n))
		}
		delete(orders, c.Domains[0])
		if _, err := s.Get(ctx, storage.LiveFileKey(c.Name, storage.CertFile)); err != nil {
			t.Errorf("%s not stored: %v", c.Name, err)
		}
	}
	for n, k := range orders {
		wrong = append(wrong, fmt.Sprintf("%s (in no certificate) ordered %d times", n, k))
	}
	sort.Strings(wrong)
	if len(wrong) > 0 {
		t.Errorf("want every name ordered exactly once across the fleet:\n%s", strings.Join(wrong, "\n"))
	}
	fleetNoLeftovers(ctx, t, e, s, certs)
}
