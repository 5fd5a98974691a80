package daemon

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/core/storage/etcdstore"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
)

// newOrderMeter sits between every daemon of a fleet and Pebble, as the
// CA's front door would: it counts the newOrder requests in flight across
// the fleet (from sending until the answer is closed) and holds each one
// a while, so that unbounded daemons would overlap.
type newOrderMeter struct {
	base     http.RoundTripper
	newOrder string
	hold     time.Duration

	inFlight, max, total atomic.Int64
}

func (m *newOrderMeter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.URL.String() != m.newOrder {
		return m.base.RoundTrip(req)
	}
	m.total.Add(1)
	n := m.inFlight.Add(1)
	for {
		old := m.max.Load()
		if n <= old || m.max.CompareAndSwap(old, n) {
			break
		}
	}
	t := time.NewTimer(m.hold)
	select {
	case <-t.C:
	case <-req.Context().Done():
	}
	t.Stop()
	resp, err := m.base.RoundTrip(req)
	if err != nil {
		m.inFlight.Add(-1)
		return nil, err
	}
	var once sync.Once
	resp.Body = closeHook{resp.Body, func() { once.Do(func() { m.inFlight.Add(-1) }) }}
	return resp, nil
}

type closeHook struct {
	io.ReadCloser
	closed func()
}

func (c closeHook) Close() error {
	err := c.ReadCloser.Close()
	c.closed()
	return err
}

// Three daemons, each allowed one newOrder in flight, share etcd with a
// fleet bound of 2: the CA never sees more than 2 newOrders in flight at
// once, it does see 2 (the bound is used, not a global mutex), and every
// certificate is issued exactly once.
func TestFleetBoundsNewOrdersInFlight(t *testing.T) {
	w := startWorld(t)
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	var names []string
	for i := range 12 {
		names = append(names, fmt.Sprintf("g%02d", i))
	}
	cfg := w.config(t, "authoritative", "30s", names...)
	if cfg.Daemon.NewOrderConcurrency != 1 || cfg.Daemon.FleetNewOrderConcurrency != 1 {
		t.Fatalf("defaults: new_order_concurrency %d, fleet_new_order_concurrency %d; want 1 and 1",
			cfg.Daemon.NewOrderConcurrency, cfg.Daemon.FleetNewOrderConcurrency)
	}
	cfg.Daemon.FleetNewOrderConcurrency = 2
	// Two orders at a time per daemon, so the first daemon to start does
	// not claim all twelve and each daemon has newOrders to send.
	cfg.Daemon.MaxConcurrent = 2
	dir, err := fetchDirectory(ctx, w.pebble.HTTPClient, w.pebble.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	meter := &newOrderMeter{base: w.pebble.HTTPClient.Transport, newOrder: dir.NewOrder, hold: 300 * time.Millisecond}
	client := &http.Client{Transport: meter, Timeout: time.Minute}
	var ds []*Daemon
	var stores []*etcdstore.Store
	for range 3 {
		s := openEtcdStore(t, e, etcdstore.Options{Prefix: "gate", Keys: [][]byte{key}})
		d := newDaemon(t, cfg, Options{Storage: s, HTTPClient: through(client)})
		ds, stores = append(ds, d), append(stores, s)
	}
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan error, len(ds))
	for _, d := range ds {
		go func() { ran <- d.Run(rctx, nil) }()
	}
	for i, d := range ds {
		eventually(t, fmt.Sprintf("daemon %d seeing all %d certificates", i, len(names)), func() bool {
			return ctx.Err() != nil || testutil.CollectAndCount(d.m.notAfter) == len(names)
		})
	}
	stop()
	for range ds {
		if err := <-ran; err != nil {
			t.Error(err)
		}
	}
	waited, orders := 0.0, 0.0
	for _, d := range ds {
		waited += testutil.ToFloat64(d.m.gateWait.WithLabelValues("fleet-new-order"))
		orders += testutil.ToFloat64(d.m.orders.WithLabelValues(reasonMissing))
	}
	t.Logf("newOrders: %d sent, at most %d in flight at once; %.2f s waited for fleet slots", meter.total.Load(), meter.max.Load(), waited)
	if got := meter.max.Load(); got > 2 {
		t.Errorf("%d newOrders in flight at once across the fleet, want at most 2", got)
	} else if got < 2 {
		t.Errorf("at most %d newOrder in flight at once: the fleet bound of 2 was never used", got)
	}
	if orders != float64(len(names)) {
		t.Errorf("%v orders for %d certificates, want exactly one each", orders, len(names))
	}
	for _, n := range names {
		if _, err := stores[0].Get(ctx, storage.LiveFileKey(n, storage.CertFile)); err != nil {
			t.Errorf("%s not stored: %v", n, err)
		}
	}
	if left, err := stores[0].List(ctx, etcdstore.LocksDir); err != nil || len(left) > 0 {
		t.Errorf("locks left in etcd after the fleet stopped: %q, %v", left, err)
	}
}

type directory struct {
	NewOrder string `json:"newOrder"`
}

func fetchDirectory(ctx context.Context, c *http.Client, url string) (directory, error) {
	var dir directory
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return dir, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return dir, err
	}
	defer resp.Body.Close()
	return dir, json.NewDecoder(resp.Body).Decode(&dir)
}

// benchConfig parses a configuration of the given certificates with a
// described (never started) rfc2136 instance: enough for checks that
// stop before any CA or DNS work.
func benchConfig(tb testing.TB, ctx context.Context, server string, names ...string) *config.Config {
	tb.Helper()
	var doc strings.Builder
	fmt.Fprintf(&doc, "state = %q\n[acme]\nserver = %q\nagree_tos = true\n[dns]\nresolvers = [\"127.0.0.1\"]\n", tb.TempDir(), server)
	doc.WriteString("[providers.bind]\nplugin = \"rfc2136\"\nsettings = { nameserver = \"127.0.0.1:53\" }\n")
	for _, name := range names {
		fmt.Fprintf(&doc, "[[certificate]]\nname = %q\ndomains = [\"%s.bench.test\"]\nprovider = \"bind\"\n", name, name)
	}
	describe := func(context.Context, string, string, string, []string, string) (plugin.Metadata, error) {
		return plugin.Metadata{Name: "rfc2136", Settings: []plugin.SettingSpec{{Name: "nameserver", Required: true}}}, nil
	}
	cfg, err := config.Parse(ctx, "bench.toml", []byte(doc.String()), 0o600, config.Options{Describe: describe})
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func noLaunch(context.Context, config.Provider, []string, []string, func(string) (string, bool), *slog.Logger) (Plugin, error) {
	return nil, errors.New("no plugin in this test")
}

// A CA's Retry-After that one daemon of a fleet got holds for the others:
// a daemon that never heard it postpones its due certificate until then
// without a request to the CA. On FS the fleet gate steps aside after its
// first slot and nothing is shared.
func TestFleetSharesRetryAfter(t *testing.T) {
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	cfg := benchConfig(t, ctx, "https://127.0.0.1:1/dir", "r")
	var ds []*Daemon
	for range 2 {
		s := openEtcdStore(t, e, etcdstore.Options{Prefix: "wait", Keys: [][]byte{key}})
		ds = append(ds, newDaemon(t, cfg, Options{Launch: noLaunch, Storage: s}))
	}
	// The first daemon took a slot (so it knows etcd has leases), then
	// the CA said rateLimited with a Retry-After.
	release, err := ds[0].current().http.Transport.(*caTransport).fleet.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release()
	acct := accountKey(cfg.ACME.DirectoryURL, cfg.ACME.Email)
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	ds[0].fleetBlock(ctx, acct, until, ds[0].log)
	ds[0].fleetBlock(ctx, acct, until.Add(-time.Minute), ds[0].log) // an earlier time does not shorten it
	if next := ds[1].check(ctx, "r"); !next.Equal(until) {
		t.Errorf("the other daemon's next look at a due certificate = %v, want the fleet's Retry-After %v", next, until)
	}
	if got := testutil.ToFloat64(ds[1].m.orders.WithLabelValues(reasonMissing)); got != 0 {
		t.Errorf("the other daemon placed %v orders during the CA's Retry-After", got)
	}

	fsd, err := New(benchConfig(t, ctx, "https://127.0.0.1:1/dir", "r"), Options{Launch: noLaunch})
	if err != nil {
		t.Fatal(err)
	}
	release, err = fsd.current().http.Transport.(*caTransport).fleet.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if fsd.leases.shared() {
		t.Error("on FS the fleet gate did not step aside")
	}
	fsd.fleetBlock(ctx, acct, until, fsd.log)
	if got, _ := fsd.store.List(ctx, storage.FleetDir); len(got) > 0 {
		t.Errorf("on FS the Retry-After was shared: %q", got)
	}
}
