package etcdstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/internal/testenv"
)

// A Lock whose holder stays alive waits at most LockWait, then fails with
// ErrLocked naming the holder's lease, leaves no waiter key behind, and the
// holder keeps the lock; once it is released, Lock takes it at once.
func TestLockWaitIsBounded(t *testing.T) {
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	a := newStore(t, e, Options{Keys: [][]byte{testKey(t)}})
	b := newStore(t, e, Options{Prefix: strings.Trim(a.prefix, "/"), Keys: [][]byte{testKey(t)}, LockWait: time.Second})
	held, err := a.Lock(ctx, "cert-w", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = b.Lock(ctx, "cert-w", time.Minute)
	if !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("Lock of a lock held past LockWait = %v, want ErrLocked", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Lock waited for the test's deadline (%v), not LockWait", time.Since(start))
	}
	if lease := storage.LeaseOf(held); !strings.Contains(err.Error(), "etcd lease "+lease) {
		t.Errorf("error %q does not name the holder's lease %s", err, lease)
	}
	keys, err := a.cli.Get(ctx, a.prefix+LocksDir+"/cert-w/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Kvs) != 1 {
		t.Errorf("%d keys under the lock after the bounded wait, want the holder's only", len(keys.Kvs))
	}
	if _, err := b.TryLock(ctx, "cert-w", time.Minute); !errors.Is(err, storage.ErrLocked) {
		t.Errorf("TryLock after the bounded wait = %v, want the holder to keep the lock", err)
	}
	_ = held.Release(ctx)
	l, err := b.Lock(ctx, "cert-w", time.Minute)
	if err != nil {
		t.Fatalf("Lock after the release: %v", err)
	}
	_ = l.Release(ctx)
}
