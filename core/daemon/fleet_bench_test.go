package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/core/storage/etcdstore"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
)

// countingStore counts the requests the daemon makes of its store.
type countingStore struct {
	storage.Storage
	n atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, k string) ([]byte, error) {
	c.n.Add(1)
	return c.Storage.Get(ctx, k)
}

func (c *countingStore) List(ctx context.Context, k string) ([]string, error) {
	c.n.Add(1)
	return c.Storage.List(ctx, k)
}

// Scan passes the store's range read on (storage.Scanner), counted.
func (c *countingStore) Scan(ctx context.Context, prefix string, keep func(string) bool) (map[string][]byte, error) {
	c.n.Add(1)
	return c.Storage.(storage.Scanner).Scan(ctx, prefix, keep)
}

// BenchmarkFleetEtcd10000: 10,000 synthetic lineages in etcd (a current
// certificate and its sealed key each, none due): daemon start-up, the
// heap it holds, one scheduler pass over every certificate, and the etcd
// requests a pass costs. Run with -benchtime=1x.
func BenchmarkFleetEtcd10000(b *testing.B) {
	const n = 10000
	e := testenv.StartEtcd(b, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s, err := etcdstore.New(etcdstore.Options{Endpoints: e.Endpoints(), Prefix: "bench", Keys: [][]byte{key}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kder, _ := x509.MarshalECPrivateKey(k)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("c%05d", i)
	}
	var wg sync.WaitGroup
	work := make(chan string)
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for name := range work {
				tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + ".bench.test"},
					DNSNames: []string{name + ".bench.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(60 * 24 * time.Hour)}
				der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
				if err == nil {
					c := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
					err = s.PutSet(ctx, storage.LiveKey(name), map[string]storage.File{
						storage.CertFile: {Data: c}, storage.FullChainFile: {Data: c}, storage.PrivKeyFile: {Data: keyPEM, Private: true}})
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for _, name := range names {
		work <- name
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	var doc strings.Builder
	doc.WriteString("state = \"/nonexistent/zonecert\"\n[acme]\nserver = \"https://127.0.0.1:1/dir\"\nagree_tos = true\n[dns]\nresolvers = [\"127.0.0.1\"]\n")
	doc.WriteString("[providers.bind]\nplugin = \"rfc2136\"\nsettings = { nameserver = \"127.0.0.1:53\" }\n")
	for _, name := range names {
		fmt.Fprintf(&doc, "[[certificate]]\nname = %q\ndomains = [\"%s.bench.test\"]\nprovider = \"bind\"\n", name, name)
	}
	describe := func(context.Context, string, string, string, []string, string) (plugin.Metadata, error) {
		return plugin.Metadata{Name: "rfc2136", Settings: []plugin.SettingSpec{{Name: "nameserver", Required: true}}}, nil
	}
	cfg, err := config.Parse(ctx, "bench.toml", []byte(doc.String()), 0o600, config.Options{Describe: describe})
	if err != nil {
		b.Fatal(err)
	}
	noLaunch := func(context.Context, config.Provider, []string, []string, func(string) (string, bool), *slog.Logger) (Plugin, error) {
		return nil, errors.New("no plugin in this benchmark")
	}
	cs := &countingStore{Storage: s}
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		d, err := New(cfg, Options{Launch: noLaunch, Storage: cs,
			HTTPClient: func(string) (*http.Client, error) { return http.DefaultClient, nil }})
		if err != nil {
			b.Fatal(err)
		}
		startup := time.Since(start)
		cs.n.Store(0)
		start = time.Now()
		due := 0
		for _, name := range names {
			if d.check(ctx, name).Before(time.Now().Add(time.Minute)) {
				due++
			}
		}
		pass := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if due > 0 {
			b.Fatalf("%d certificates due in a pass where none should be", due)
		}
		reqs := cs.n.Load()
		b.ReportMetric(startup.Seconds(), "startup-s")
		b.ReportMetric(pass.Seconds(), "pass-s")
		b.ReportMetric(float64(reqs), "etcd-requests/pass")
		b.ReportMetric(float64(reqs)*float64(time.Hour)/float64(cfg.Daemon.CheckInterval), "etcd-requests/hour")
		b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/(1<<20), "heap-MiB")
		runtime.KeepAlive(d)
	}
}

// TestFleetThroughputFigures measures, when ZONECERT_FLEET_FIGURES=1 (it
// asserts nothing about speed): 200 certificates due at once against one
// Pebble and BIND, ordered by one daemon on FS, then by three daemons
// sharing etcd with the default fleet newOrder bound (1) and with 3 (as
// many as the daemons' own bounds together); it logs certificates per
// second.
func TestFleetThroughputFigures(t *testing.T) {
	if os.Getenv("ZONECERT_FLEET_FIGURES") == "" {
		t.Skip("figures only: ZONECERT_FLEET_FIGURES=1")
	}
	const n = 200
	// fleet is fleet_new_order_concurrency: 0 keeps the default (1).
	for _, run := range []struct{ daemons, fleet int }{{1, 0}, {3, 0}, {3, 3}} {
		daemons := run.daemons
		w := startWorld(t)
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("t%03d", i))
		}
		cfg := w.config(t, "authoritative", "30s", names...)
		if run.fleet > 0 {
			cfg.Daemon.FleetNewOrderConcurrency = run.fleet
		}
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
		var store storage.Storage // FS on cfg.State for one daemon
		var ds []*Daemon
		if daemons > 1 {
			e := testenv.StartEtcd(t, 1)
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			for range daemons {
				s := openEtcdStore(t, e, etcdstore.Options{Prefix: "tp", Keys: [][]byte{key}})
				store = s
				d := newDaemon(t, cfg, Options{Storage: s, HTTPClient: through(w.pebble.HTTPClient)})
				ds = append(ds, d)
			}
		} else {
			ds = append(ds, w.daemon(t, cfg))
			store = ds[0].store
		}
		start := time.Now()
		rctx, stop := context.WithCancel(ctx)
		ran := make(chan error, len(ds))
		for _, d := range ds {
			go func() { ran <- d.Run(rctx, nil) }()
		}
		for {
			live, err := store.List(ctx, storage.LiveDir)
			if err == nil && len(live) == n {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%d daemon(s): %d of %d stored before the deadline", daemons, len(live), n)
			}
			time.Sleep(200 * time.Millisecond)
		}
		elapsed := time.Since(start)
		stop()
		for range ds {
			<-ran
		}
		cancel()
		t.Logf("%d daemon(s), %s, fleet_new_order_concurrency %d: %d certificates in %v, %.1f certificates/s", daemons,
			map[bool]string{true: "etcd", false: "FS"}[daemons > 1], cfg.Daemon.FleetNewOrderConcurrency, n,
			elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	}
}
