package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/core/storage/etcdstore"
	"github.com/zonecert/zonecert/internal/testenv"
)

// Three daemons share one config and one etcd store: every certificate is
// ordered exactly once across them (counted by each daemon's orders
// metric), all get stored, and no record or journal entry is left.
func TestFleetOrdersEachCertificateOnce(t *testing.T) {
	w := startWorld(t)
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("f%02d", i))
	}
	cfg := w.config(t, "authoritative", "30s", names...)
	var ds []*Daemon
	var stores []*etcdstore.Store
	for range 3 {
		s, err := etcdstore.New(etcdstore.Options{Endpoints: e.Endpoints(), Prefix: "fleet", Keys: [][]byte{key}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		d, err := New(cfg, Options{Launch: launch, Storage: s,
			HTTPClient: func(string) (*http.Client, error) { return w.pebble.HTTPClient, nil }})
		if err != nil {
			t.Fatal(err)
		}
		ds, stores = append(ds, d), append(stores, s)
	}
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan error, len(ds))
	for _, d := range ds {
		go func() { ran <- d.Run(rctx, nil) }()
	}
	// Every daemon has seen every certificate stored (check sets the
	// expiry gauge of a stored certificate), so none is left to order.
	for i, d := range ds {
		eventually(t, fmt.Sprintf("daemon %d seeing all 20 certificates", i), func() bool {
			return ctx.Err() != nil || testutil.CollectAndCount(d.m.notAfter) == len(names)
		})
	}
	stop()
	for range ds {
		if err := <-ran; err != nil {
			t.Error(err)
		}
	}
	total := 0.0
	for i, d := range ds {
		n := testutil.ToFloat64(d.m.orders.WithLabelValues(reasonMissing))
		t.Logf("daemon %d ordered %v", i, n)
		total += n
	}
	if total != float64(len(names)) {
		t.Errorf("%v orders across the fleet for %d certificates, want exactly one each", total, len(names))
	}
	for _, n := range names {
		if _, err := stores[0].Get(ctx, storage.LiveFileKey(n, storage.CertFile)); err != nil {
			t.Errorf("%s not stored: %v", n, err)
		}
		vals, err := w.bind.TXT(ctx, w.bind.Primary, "_acme-challenge."+n+".inproc.test.")
		if err != nil || len(vals) > 0 {
			t.Errorf("TXT left for %s: %v %v", n, vals, err)
		}
	}
	if left, err := stores[0].List(ctx, storage.JournalDir); err != nil || len(left) > 0 {
		t.Errorf("journal entries left in etcd: %q, %v", left, err)
	}
}
