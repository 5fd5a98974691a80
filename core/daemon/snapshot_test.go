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
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/core/storage/etcdstore"
	"github.com/zonecert/zonecert/internal/testenv"
)

// storeLineage writes a current certificate for name (valid 60 days from
// now) and its renewal plan with a cached renewal check that is not due,
// as a daemon of the fleet would have left it.
func storeLineage(t *testing.T, ctx context.Context, s storage.Storage, name string, now time.Time) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name + ".bench.test"},
		DNSNames: []string{name + ".bench.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(60 * 24 * time.Hour),
		AuthorityKeyId: []byte{1, 2, 3, 4}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := s.PutSet(ctx, storage.LiveKey(name), map[string]storage.File{
		storage.CertFile: {Data: c}, storage.FullChainFile: {Data: c}}); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	id, _ := acme.ARICertID(leaf)
	if err := core.SavePlan(ctx, s, core.Plan{Name: name, Directory: "https://127.0.0.1:1/dir", Domains: leaf.DNSNames,
		KeyType: acme.KeyType("ec256"), Wait: "authoritative", Provider: core.ProviderSource{Name: "rfc2136"},
		Check: &core.RenewalCheck{CertID: id, Reason: core.ReasonExpiring, RenewAt: now.Add(40 * 24 * time.Hour), NextCheck: now.Add(40 * 24 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
}

// A scheduler pass over certificates that are not due costs two etcd
// requests however many there are (one range read of live/, one of
// renewal/), including the renewal check's read of cert.pem. A
// certificate the snapshot shows missing but that another daemon stored
// since is read again under its claim and not ordered, and the fresh read
// replaces the snapshot's entry. After check_interval the snapshot is read
// again.
func TestCheckPassReadsSnapshot(t *testing.T) {
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := openEtcdStore(t, e, etcdstore.Options{Prefix: "snap", Keys: [][]byte{key}})
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	var names []string
	for i := range 30 {
		names = append(names, fmt.Sprintf("s%02d", i))
		storeLineage(t, ctx, s, names[i], clock)
	}
	cfg := benchConfig(t, ctx, "https://127.0.0.1:1/dir", append(names, "late")...)
	cs := &countingStore{Storage: s}
	d, err := New(cfg, Options{Launch: noLaunch, Storage: cs, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	pass := func() {
		t.Helper()
		for _, n := range names {
			if next := d.check(ctx, n); !next.After(now().Add(time.Minute)) {
				t.Fatalf("%s due at %v in a pass where none is", n, next)
			}
		}
	}
	pass()
	if got := cs.n.Load(); got != 2 {
		t.Errorf("a pass over %d certificates cost %d requests, want 2", len(names), got)
	}
	pass()
	if got := cs.n.Load(); got != 2 {
		t.Errorf("a second pass within check_interval cost %d more requests, want 0", got-2)
	}

	// The renewal check's plan update goes through the daemon's store:
	// the next first look sees it without a request.
	plan := []byte(`{"version":1,"name":"s00","updated":"2026-01-02T03:04:05Z"}`)
	if err := d.reads.Put(ctx, storage.RenewalKey("s00"), plan, true); err != nil {
		t.Fatal(err)
	}
	before := cs.n.Load()
	if got, err := d.reads.plan(snapshotReads(ctx), "s00"); err != nil || string(got) != string(plan) || cs.n.Load() != before {
		t.Errorf("first look after a plan update = %q, %v, %d requests; want the written plan, no request", got, err, cs.n.Load()-before)
	}
	storeLineage(t, ctx, s, "s00", now()) // a valid plan again

	storeLineage(t, ctx, s, "late", now()) // by another daemon, after the snapshot
	if next := d.check(ctx, "late"); !next.After(now().Add(time.Minute)) {
		t.Errorf("late: next check %v, want it not due", next)
	}
	if got := testutil.ToFloat64(d.m.orders.WithLabelValues(reasonMissing)); got != 0 {
		t.Errorf("%v orders of a certificate another daemon stored after the snapshot", got)
	}
	before = cs.n.Load()
	d.check(ctx, "late")
	if got := cs.n.Load() - before; got != 0 {
		t.Errorf("looking again at late cost %d requests: the fresh read did not update the snapshot", got)
	}

	mu.Lock()
	clock = clock.Add(cfg.Daemon.CheckInterval)
	mu.Unlock()
	before = cs.n.Load()
	pass()
	if got := cs.n.Load() - before; got != 2 {
		t.Errorf("a pass after check_interval cost %d requests, want 2 (the snapshot read again)", got)
	}
}

// failingScanner is a store whose range reads fail, counted.
type failingScanner struct {
	storage.Storage
	scans int
}

func (f *failingScanner) Scan(context.Context, string, func(string) bool) (map[string][]byte, error) {
	f.scans++
	return nil, errors.New("etcd unreachable")
}

// While the store cannot be scanned, checks fail at once with the last
// scan's error for scanRetry, instead of each one queueing for its own
// scan (and its own request timeout); then a check scans again.
func TestSnapshotFailedScanAnswersForAWhile(t *testing.T) {
	f := &failingScanner{}
	clock := time.Now()
	st := newSnapStore(f, func() time.Duration { return time.Hour }, func() time.Time { return clock })
	ctx := snapshotReads(t.Context())
	for range 5 {
		if _, err := st.Get(ctx, storage.LiveFileKey("a", storage.CertFile)); err == nil || !strings.Contains(err.Error(), "etcd unreachable") {
			t.Fatalf("Get with a failing scan = %v", err)
		}
	}
	if f.scans != 1 {
		t.Errorf("%d scans for 5 first looks within scanRetry, want 1", f.scans)
	}
	clock = clock.Add(scanRetry)
	_, _ = st.plan(ctx, "a")
	if f.scans != 2 {
		t.Errorf("%d scans after scanRetry, want 2", f.scans)
	}
}
