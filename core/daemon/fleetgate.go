package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zonecert/zonecert/core/storage"
)

// A fleet's daemons each bound their own newOrder requests in flight
// (new_order_concurrency, the ACME client's order gate) and remember the
// CA's Retry-After in memory. Across a fleet on a store with leases
// (etcd), fleetGate bounds the newOrder requests in flight at one CA to
// fleet_new_order_concurrency, with as many slot locks (ca-<digest>-<i>):
// a daemon holds one from before its newOrder request is sent until its
// answer is read, the span the order gate bounds in one daemon. A daemon
// tries the slots once (TryLock, from a random one), then waits for one
// of them with Lock, which waits on an etcd watch of that slot (its
// waiters are served in arrival order), bounded by the request's context.
// A slot is on a lease, so a daemon that dies holding one frees it within
// the lock TTL. On a store without leases (FS, one machine) the order
// gate is enough and the fleet gate steps aside after its first slot.

// slotLease bounds how long a vanished daemon keeps a slot (etcd caps it
// at its lock TTL and keeps it alive while held).
const slotLease = 10 * time.Second

// leases says whether the store has leases: unknown until the first slot
// is taken, then yes or no for the daemon's life.
type leases struct{ v atomic.Int32 }

const (
	leasesUnknown int32 = iota
	leasesYes
	leasesNo
)

// shared reports whether fleet rules may apply: the store has leases or
// has not been asked yet.
func (l *leases) shared() bool { return l.v.Load() != leasesNo }

// fleetGate is one generation's bound on the fleet's newOrders at its CA.
type fleetGate struct {
	store  storage.Storage
	ca     string // digest of the directory URL
	slots  int
	leases *leases
	waited func(time.Duration) // time spent waiting for a slot, for metrics
	now    func() time.Time
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// acquire takes a slot, waiting for one while all are held, and returns
// the function that frees it.
func (f *fleetGate) acquire(ctx context.Context) (release func(), err error) {
	if !f.leases.shared() || f.slots < 1 {
		return func() {}, nil
	}
	first := rand.N(f.slots)
	var l storage.Lock
	for i := range f.slots - 1 {
		l, err = f.store.TryLock(ctx, storage.CASlotLock(f.ca, (first+i)%f.slots), slotLease)
		if err == nil {
			break
		}
		if !errors.Is(err, storage.ErrLocked) {
			return nil, fmt.Errorf("taking a fleet new-order slot: %w", err)
		}
		l = nil
	}
	if l == nil {
		start := f.now()
		l, err = f.store.Lock(ctx, storage.CASlotLock(f.ca, (first+f.slots-1)%f.slots), slotLease)
		if err != nil {
			return nil, fmt.Errorf("waiting for a fleet new-order slot: %w", err)
		}
		f.waited(f.now().Sub(start))
	}
	if storage.LeaseOf(l) == "" {
		// FS: one machine, where the order gate of each daemon is enough.
		f.leases.v.Store(leasesNo)
		_ = l.Release(context.WithoutCancel(ctx))
		return func() {}, nil
	}
	f.leases.v.Store(leasesYes)
	var once sync.Once
	return func() { once.Do(func() { _ = l.Release(context.WithoutCancel(ctx)) }) }, nil
}

// releasingBody frees a slot when the answer has been read (closed).
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// newOrderSlot wraps one newOrder round trip in a fleet slot.
func (t *caTransport) newOrderSlot(req *http.Request, send func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	release, err := t.fleet.acquire(req.Context())
	if err != nil {
		return nil, err
	}
	resp, err := send(req)
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = releasingBody{resp.Body, release}
	return resp, nil
}

// isNewOrder reports whether req is a newOrder request to the CA.
func (t *caTransport) isNewOrder(req *http.Request) bool {
	if req.Method != http.MethodPost || t.newOrderURL == nil {
		return false
	}
	u, err := t.newOrderURL(req.Context())
	return err == nil && u != "" && req.URL.String() == u
}

// fleetBlockedUntil is until when the fleet's shared Retry-After asks the
// account (key: accountKey) to wait; zero when it does not, or on a store
// without leases.
func (d *Daemon) fleetBlockedUntil(ctx context.Context, key string, log *slog.Logger) time.Time {
	if !d.leases.shared() {
		return time.Time{}
	}
	b, err := d.store.Get(ctx, storage.RetryAfterKey(digest(key)))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			log.LogAttrs(ctx, slog.LevelDebug, "reading the fleet's Retry-After", slog.String("error", err.Error()))
		}
		return time.Time{}
	}
	until, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}
	}
	return until
}

// fleetBlock shares a CA's Retry-After with the fleet: the stored time
// only moves later. (Two daemons blocked at once may race; the loser's
// earlier time then holds until the next rateLimited answer, which costs
// one refused request.)
func (d *Daemon) fleetBlock(ctx context.Context, key string, until time.Time, log *slog.Logger) {
	if d.leases.v.Load() != leasesYes {
		return
	}
	if cur := d.fleetBlockedUntil(ctx, key, log); !until.After(cur) {
		return
	}
	if err := d.store.Put(ctx, storage.RetryAfterKey(digest(key)), []byte(until.UTC().Format(time.RFC3339Nano)), false); err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "sharing the CA's Retry-After with the fleet", slog.String("error", err.Error()))
	}
}
