package preflight_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/preflight"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
)

// countingCA is a reverse proxy in front of Pebble that counts newOrder
// requests: a preflight failure must leave the count at zero.
type countingCA struct {
	dir       string
	client    *http.Client
	newOrders atomic.Int64
}

func startCountingCA(t *testing.T, p *testenv.Pebble) *countingCA {
	t.Helper()
	u, err := url.Parse(p.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	c := &countingCA{}
	target := &url.URL{Scheme: u.Scheme, Host: u.Host}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // Pebble builds its URLs from Host
		},
		Transport: p.HTTPClient.Transport,
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/order-plz") {
			c.newOrders.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.dir = srv.URL + u.Path
	c.client = srv.Client()
	return c
}

// refusingProvider refuses every record: an order that gets past the
// preflight fails at Present, after newOrder.
type refusingProvider struct{ presents atomic.Int64 }

func (p *refusingProvider) Present(context.Context, []plugin.Record) ([]plugin.Result, error) {
	p.presents.Add(1)
	return nil, plugin.Errorf(plugin.CodeAuth, false, "test provider refuses")
}

func (p *refusingProvider) CleanUp(_ context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	out := make([]plugin.Result, len(recs))
	for i, r := range recs {
		out[i] = plugin.Result{ID: r.ID}
	}
	return out, nil
}

// Each case the checks call an error, given to the engine with a
// Preflight, fails with KindDNS before the CA sees a newOrder; a passing
// name reaches newOrder; without a Preflight the bad names reach it too.
func TestEngineStopsBeforeNewOrder(t *testing.T) {
	w := startWorld(t)
	pebble := testenv.StartPebble(t, testenv.PebbleOptions{DNSServer: w.C.String() + ":53", RetryAfterAuthz: -1, RetryAfterOrder: -1})
	ca := startCountingCA(t, pebble)
	store, err := storage.NewFS(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	checker := w.checker()
	obtain := func(t *testing.T, pre core.Preflighter, domain string, wait ...dns01.Wait) (int64, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cfg := core.Config{Storage: store, Provider: &refusingProvider{}, HTTPClient: ca.client}
		if pre != nil {
			cfg.Preflight = pre
		}
		eng, err := core.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		before := ca.newOrders.Load()
		req := core.Request{Domains: []string{domain}, DirectoryURL: ca.dir, AgreeTOS: true,
			Challenge: "dns-01", Resolvers: w.Resolvers, PropagationTimeout: 5 * time.Second}
		if len(wait) > 0 {
			req.Wait = wait[0]
		}
		_, err = eng.Obtain(ctx, req)
		return ca.newOrders.Load() - before, err
	}
	for _, bad := range []string{"lame.test", "loop.ex.test", "dangle.ex.test", "caa-none.ex.test", "expired.test", "badds.test"} {
		t.Run(bad, func(t *testing.T) {
			n, err := obtain(t, checker, bad)
			var p preflight.Problems
			if err == nil || core.KindOf(err) != core.KindDNS || !errors.As(err, &p) {
				t.Fatalf("Obtain = %v (kind %v), want a KindDNS preflight failure", err, core.KindOf(err))
			}
			if n != 0 {
				t.Errorf("the CA saw %d newOrder requests, want 0", n)
			}
			// Without a preflight the same order reaches the CA (more than
			// once when Pebble rejects a nonce and the client resends).
			if n, _ := obtain(t, nil, bad); n < 1 {
				t.Errorf("without preflight: %d newOrder requests, want some", n)
			}
		})
	}
	// A fixed wait is for name servers this host cannot reach: the
	// checks, which would ask them, are skipped.
	t.Run("fixed wait", func(t *testing.T) {
		n, err := obtain(t, checker, "lame.test", dns01.WaitFixed(time.Millisecond))
		if _, ok := errors.AsType[preflight.Problems](err); ok || n < 1 {
			t.Errorf("newOrder requests %d, err %v: want the order placed", n, err)
		}
	})
	t.Run("passing", func(t *testing.T) {
		n, err := obtain(t, checker, "direct.ex.test")
		if _, ok := errors.AsType[preflight.Problems](err); ok {
			t.Fatalf("a passing name failed its preflight: %v", err)
		}
		if n < 1 {
			t.Errorf("the CA saw %d newOrder requests, want some (err %v)", n, err)
		}
	})
}
