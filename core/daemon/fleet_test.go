package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zonecert/zonecert/core/config"
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
		s := openEtcdStore(t, e, etcdstore.Options{Prefix: "fleet", Keys: [][]byte{key}})
		d := newDaemon(t, cfg, Options{Storage: s, HTTPClient: through(w.pebble.HTTPClient)})
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

// pausingStore freezes the order at its worst moment: just before the
// certificate's final write, the holder's lease is let run out and
// another holder takes (and releases) the certificate's lock, as when a
// daemon paused past its lease (GC, SIGSTOP) and the fleet moved on.
type pausingStore struct {
	*etcdstore.Store
	other *etcdstore.Store
	t     *testing.T
}

func (p pausingStore) PutSet(ctx context.Context, key string, files map[string]storage.File) error {
	if l, ok := storage.FenceOf(ctx).(*etcdstore.Lock); ok {
		l.Abandon()
		name := strings.TrimPrefix(key, storage.LiveDir+"/")
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		next, err := p.other.Lock(lctx, storage.CertLock(name), time.Minute)
		if err != nil {
			p.t.Errorf("the next holder never got the lock: %v", err)
		} else {
			_ = next.Release(ctx)
		}
	}
	return p.Store.PutSet(ctx, key, files)
}

// The engine makes its final write under the certificate lock's fence: an
// order whose lease ran out before it stored its certificate stores
// nothing (storage.ErrFenced) rather than overwrite a newer holder's.
func TestFleetPausedWriteIsFenced(t *testing.T) {
	w := startWorld(t)
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	open := func(ttl time.Duration) *etcdstore.Store {
		return openEtcdStore(t, e, etcdstore.Options{Prefix: "fleet", Keys: [][]byte{key}, LockTTL: ttl})
	}
	s := pausingStore{Store: open(2 * time.Second), other: open(0), t: t}
	cfg := w.config(t, "authoritative", "30s", "p")
	d := newDaemon(t, cfg, Options{Storage: s, HTTPClient: through(w.pebble.HTTPClient)})
	cert, _ := cfg.Certificate("p")
	_, err := d.order(ctx, d.current(), cert, Due{Reason: reasonMissing})
	if !errors.Is(err, storage.ErrFenced) {
		t.Fatalf("order whose lease ran out before its write = %v, want ErrFenced", err)
	}
	if got, _ := s.List(ctx, storage.LiveKey("p")); len(got) > 0 {
		t.Errorf("the fenced order stored %q", got)
	}
}

// The etcd leader dies while two daemons order: the clients move to the
// other members, the leases survive the election, and every certificate
// is still ordered exactly once. (It once failed about one run in ten: a
// daemon held up by the election took a claim after the other daemon had
// stored the certificate and did not record its expiry; see
// TestFleetLateClaimSeesStoredCertificate.) On failure it prints the
// daemons' logs and the stacks of checks and etcd calls.
func TestFleetSurvivesEtcdLeaderLoss(t *testing.T) {
	w := startWorld(t)
	e := testenv.StartEtcd(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	names := []string{"l0", "l1", "l2", "l3", "l4", "l5"}
	cfg := w.config(t, "authoritative", "30s", names...)
	var ds []*Daemon
	var logs [2]syncBuffer
	defer func() {
		if t.Failed() {
			for i := range logs {
				t.Logf("daemon %d log:\n%s", i, logs[i].String())
			}
			for i, d := range ds {
				t.Logf("daemon %d: %d of %d certificates seen", i, testutil.CollectAndCount(d.m.notAfter), len(names))
			}
			t.Logf("goroutines checking certificates or in etcd calls:\n%s", etcdStacks())
		}
	}()
	for i := range 2 {
		s := openEtcdStore(t, e, etcdstore.Options{Prefix: "fleet", Keys: [][]byte{key}})
		d := newDaemon(t, cfg, Options{Storage: s, Logger: slog.New(slog.NewTextHandler(&logs[i], &slog.HandlerOptions{Level: slog.LevelDebug})), HTTPClient: through(w.pebble.HTTPClient)})
		ds = append(ds, d)
	}
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan error, len(ds))
	for _, d := range ds {
		go func() { ran <- d.Run(rctx, nil) }()
	}
	eventually(t, "an order in flight", func() bool {
		return testutil.ToFloat64(ds[0].m.inFlight)+testutil.ToFloat64(ds[1].m.inFlight) > 0
	})
	leader, err := e.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.Kill(leader)
	t.Logf("killed etcd member %d, the leader", leader)
	for i, d := range ds {
		eventually(t, fmt.Sprintf("daemon %d seeing every certificate", i), func() bool {
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
	for _, d := range ds {
		total += testutil.ToFloat64(d.m.orders.WithLabelValues(reasonMissing))
	}
	if total != float64(len(names)) {
		t.Errorf("%v orders for %d certificates, want exactly one each", total, len(names))
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dyingStore is a daemon that dies just after journaling its first
// record: the entry stays in etcd, and the client closes, so every lease
// it held (claim, certificate and owner locks) runs out.
type dyingStore struct {
	*etcdstore.Store
	mu    sync.Mutex
	lease string // of the order's owner lock
}

func (s *dyingStore) TryLock(ctx context.Context, name string, lease time.Duration) (storage.Lock, error) {
	l, err := s.Store.TryLock(ctx, name, lease)
	if err == nil && strings.HasPrefix(name, storage.OwnerLock("")) {
		s.mu.Lock()
		s.lease = storage.LeaseOf(l)
		s.mu.Unlock()
	}
	return l, err
}

func (s *dyingStore) Put(ctx context.Context, key string, value []byte, private bool) error {
	err := s.Store.Put(ctx, key, value, private)
	if strings.HasPrefix(key, storage.JournalDir+"/") {
		_ = s.Store.Close()
		return errors.New("the daemon died")
	}
	return err
}

// A daemon dies mid-order with a journal entry in etcd; once its owner's
// lease ends, the next order of another daemon cleans the entry up (a
// take-over), and that daemon's zonecert_fleet_takeovers_total counts it.
func TestFleetTakeOverCounted(t *testing.T) {
	w := startWorld(t)
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	open := func() *etcdstore.Store {
		return openEtcdStore(t, e, etcdstore.Options{Prefix: "fleet", Keys: [][]byte{key}, LockTTL: 2 * time.Second})
	}
	cfg := w.config(t, "authoritative", "30s", "k")
	cert, _ := cfg.Certificate("k")
	daemon := func(s storage.Storage) *Daemon {
		return newDaemon(t, cfg, Options{Storage: s, HTTPClient: through(w.pebble.HTTPClient)})
	}
	dying := &dyingStore{Store: open()}
	dead, live := daemon(dying), open()
	if _, err := dead.order(ctx, dead.current(), cert, Due{Reason: reasonMissing}); err == nil {
		t.Fatal("the dying daemon's order succeeded")
	}
	left, err := live.List(ctx, storage.JournalDir)
	if err != nil || len(left) != 1 {
		t.Fatalf("journal after the death = %q, %v; want the dead order's entry", left, err)
	}
	// The entry names the etcd lease of its owner.
	entry, err := live.Get(ctx, storage.JournalKey(left[0]))
	if err != nil {
		t.Fatal(err)
	}
	dying.mu.Lock()
	lease := dying.lease
	dying.mu.Unlock()
	if lease == "" || !strings.Contains(string(entry), `"lease":"`+lease+`"`) {
		t.Errorf("journal entry %s does not name the owner's lease %q", entry, lease)
	}
	// Its leases run out (2 s): then no lock of the dead daemon is left.
	eventually(t, "the dead daemon's locks to expire", func() bool {
		left, err := live.List(ctx, etcdstore.LocksDir)
		return ctx.Err() != nil || (err == nil && len(left) == 0)
	})
	d := daemon(live)
	if _, err := d.order(ctx, d.current(), cert, Due{Reason: reasonMissing}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(d.fleet.takeovers); got != 1 {
		t.Errorf("takeovers = %v, want 1", got)
	}
	if got := testutil.ToFloat64(dead.fleet.takeovers); got != 0 {
		t.Errorf("the dead daemon counted %v takeovers", got)
	}
	if left, err := live.List(ctx, storage.JournalDir); err != nil || len(left) > 0 {
		t.Errorf("journal entries left after the take-over: %q, %v", left, err)
	}
	vals, err := w.bind.TXT(ctx, w.bind.Primary, "_acme-challenge.k.inproc.test.")
	if err != nil || len(vals) > 0 {
		t.Errorf("TXT left: %v %v", vals, err)
	}
}

// claimLosingStore lets the claim of a certificate's order lapse just
// after the order journals its first record, as when the daemon's etcd
// keep-alives stopped getting through: the fleet sees the claim free.
type claimLosingStore struct {
	*etcdstore.Store
	mu    sync.Mutex
	claim *etcdstore.Lock
}

func (s *claimLosingStore) TryLock(ctx context.Context, name string, lease time.Duration) (storage.Lock, error) {
	l, err := s.Store.TryLock(ctx, name, lease)
	if err == nil && strings.HasPrefix(name, storage.ClaimLock("")) {
		s.mu.Lock()
		s.claim = l.(*etcdstore.Lock)
		s.mu.Unlock()
	}
	return l, err
}

func (s *claimLosingStore) Put(ctx context.Context, key string, value []byte, private bool) error {
	err := s.Store.Put(ctx, key, value, private)
	if strings.HasPrefix(key, storage.JournalDir+"/") {
		s.mu.Lock()
		if s.claim != nil {
			s.claim.Abandon()
			s.claim = nil
		}
		s.mu.Unlock()
	}
	return err
}

// An order whose claim is lost stops at once (its records removed, the
// journal emptied) instead of running on while another daemon may take
// the certificate over and remove its records: it stores nothing.
func TestFleetOrderStopsWhenClaimLost(t *testing.T) {
	w := startWorld(t)
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	st := openEtcdStore(t, e, etcdstore.Options{Prefix: "fleet", Keys: [][]byte{key}, LockTTL: 2 * time.Second})
	s := &claimLosingStore{Store: st}
	cfg := w.config(t, "authoritative", "30s", "c")
	d := newDaemon(t, cfg, Options{Storage: s, HTTPClient: through(w.pebble.HTTPClient)})
	d.check(ctx, "c")
	if ctx.Err() != nil {
		t.Fatal("check outlived the test's deadline")
	}
	if got := testutil.ToFloat64(d.m.orders.WithLabelValues(reasonMissing)); got != 1 {
		t.Errorf("%v orders, want 1", got)
	}
	if got, _ := st.List(ctx, storage.LiveKey("c")); len(got) > 0 {
		t.Errorf("the order whose claim was lost stored %q", got)
	}
	if left, err := st.List(ctx, storage.JournalDir); err != nil || len(left) > 0 {
		t.Errorf("journal entries left: %q, %v", left, err)
	}
	vals, err := w.bind.TXT(ctx, w.bind.Primary, "_acme-challenge.c.inproc.test.")
	if err != nil || len(vals) > 0 {
		t.Errorf("TXT left: %v %v", vals, err)
	}
}

// etcdStacks are the stacks of the goroutines checking a certificate or
// inside etcd calls: where a daemon waits when it stops making progress.
func etcdStacks() string {
	buf := make([]byte, 64<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "etcdstore") || strings.Contains(g, "(*Daemon).check(") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// lateClaimStore lets another daemon order the certificate between a
// daemon's first look (missing) and its claim, as when that daemon's
// requests were held up by an etcd leader election meanwhile.
type lateClaimStore struct {
	*etcdstore.Store
	before func()
}

func (s lateClaimStore) TryLock(ctx context.Context, name string, lease time.Duration) (storage.Lock, error) {
	if strings.HasPrefix(name, storage.ClaimLock("")) {
		s.before()
	}
	return s.Store.TryLock(ctx, name, lease)
}

// A daemon that takes the claim after another daemon stored the
// certificate orders nothing, and still records the certificate's expiry
// (zonecert_certificate_not_after_seconds) like any stored one.
func TestFleetLateClaimSeesStoredCertificate(t *testing.T) {
	w := startWorld(t)
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	open := func() *etcdstore.Store {
		return openEtcdStore(t, e, etcdstore.Options{Prefix: "fleet", Keys: [][]byte{key}})
	}
	cfg := w.config(t, "authoritative", "30s", "late")
	cert, _ := cfg.Certificate("late")
	daemon := func(s storage.Storage) *Daemon {
		return newDaemon(t, cfg, Options{Storage: s, HTTPClient: through(w.pebble.HTTPClient)})
	}
	first := daemon(open())
	late := daemon(lateClaimStore{Store: open(), before: func() {
		if _, err := first.order(ctx, first.current(), cert, Due{Reason: reasonMissing}); err != nil {
			t.Errorf("the other daemon's order: %v", err)
		}
	}})
	late.check(ctx, "late")
	if got := testutil.ToFloat64(late.m.orders.WithLabelValues(reasonMissing)); got != 0 {
		t.Errorf("the late daemon placed %v orders", got)
	}
	if got := testutil.CollectAndCount(late.m.notAfter); got != 1 {
		t.Errorf("the late daemon records %d expiries, want the stored certificate's", got)
	}
}

// openEtcdStore opens a store on e with o's prefix, keys and lock TTL,
// closed when t ends.
func openEtcdStore(t testing.TB, e *testenv.Etcd, o etcdstore.Options) *etcdstore.Store {
	t.Helper()
	o.Endpoints = e.Endpoints()
	s, err := etcdstore.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newDaemon builds a daemon of cfg with o, starting real plugins unless o
// says how to launch them.
func newDaemon(t testing.TB, cfg *config.Config, o Options) *Daemon {
	t.Helper()
	if o.Launch == nil {
		o.Launch = launch
	}
	d, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// through reaches every CA through c.
func through(c *http.Client) func(string) (*http.Client, error) {
	return func(string) (*http.Client, error) { return c, nil }
}
