// Package storagetest is the contract test suite of storage.Storage: every
// backend (FS, etcd) runs the same tests through Run.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/storage"
)

// Backend describes the backend under test.
type Backend struct {
	// New returns an empty store, cleaned up with the test.
	New func(t *testing.T) storage.Storage
	// Abandon, when set, makes a held lock's holder vanish without
	// releasing it (a frozen or partitioned process); the lock must then
	// become free within LeaseWait. Backends whose locks die with their
	// process test that with a subprocess instead and leave it nil.
	Abandon func(t *testing.T, l storage.Lock)
	// LeaseWait bounds how long an abandoned lock takes to free.
	LeaseWait time.Duration
	// Fences: writes fenced by a lost lock fail with ErrFenced.
	Fences bool
}

// Run runs every contract test against b.
func Run(t *testing.T, b Backend) {
	t.Run("PutGetListDelete", func(t *testing.T) { t.Parallel(); testPutGetListDelete(t, b) })
	t.Run("InvalidKeys", func(t *testing.T) { t.Parallel(); testInvalidKeys(t, b) })
	t.Run("PutSetReplacesWholeSet", func(t *testing.T) { t.Parallel(); testPutSet(t, b) })
	t.Run("LockExcludes", func(t *testing.T) { t.Parallel(); testLockExcludes(t, b) })
	t.Run("TryLock", func(t *testing.T) { t.Parallel(); testTryLock(t, b) })
	t.Run("LockWaitEndsWithCtx", func(t *testing.T) { t.Parallel(); testLockCtx(t, b) })
	t.Run("FencedWriteUnderHeldLock", func(t *testing.T) { t.Parallel(); testFenceHeld(t, b) })
	t.Run("ScanWhenScanner", func(t *testing.T) { t.Parallel(); testScan(t, b) })
	if b.Fences {
		t.Run("FencedWriteAfterRelease", func(t *testing.T) { t.Parallel(); testFenceReleased(t, b) })
	}
	if b.Abandon != nil {
		t.Run("AbandonedLockFrees", func(t *testing.T) { t.Parallel(); testAbandoned(t, b) })
	}
}

// ctx gives every test its own deadline.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func testPutGetListDelete(t *testing.T, b Backend) {
	s, c := b.New(t), ctx(t)
	if _, err := s.Get(c, "accounts/x/account.json"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of an absent key = %v, want ErrNotFound", err)
	}
	if err := s.Put(c, "accounts/ca/1/account.json", []byte(`{"a":1}`), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(c, "accounts/ca/1/key.pem", []byte("secret"), true); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(c, "accounts/ca/2/account.json", []byte(`{}`), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(c, "accounts/ca/1/account.json", []byte(`{"a":2}`), false); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(c, "accounts/ca/1/account.json"); err != nil || string(got) != `{"a":2}` {
		t.Fatalf("Get = %q, %v; want the second value", got, err)
	}
	if got, err := s.Get(c, "accounts/ca/1/key.pem"); err != nil || string(got) != "secret" {
		t.Fatalf("Get of a private value = %q, %v", got, err)
	}
	for prefix, want := range map[string][]string{
		"accounts":      {"ca"},
		"accounts/ca":   {"1", "2"},
		"accounts/ca/1": {"account.json", "key.pem"},
		"renewal":       nil,
	} {
		got, err := s.List(c, prefix)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, %v; want %q", prefix, got, err, want)
		}
	}
	if err := s.Delete(c, "accounts/ca/2/account.json"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(c, "accounts/ca/2/account.json"); err != nil {
		t.Fatalf("Delete of an absent key = %v, want nil", err)
	}
	if _, err := s.Get(c, "accounts/ca/2/account.json"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	if _, ok := s.LocalPath("accounts/ca/1/key.pem"); ok {
		if _, ok := s.LocalPath("../x"); ok {
			t.Error("LocalPath of an invalid key is ok")
		}
	}
}

func testInvalidKeys(t *testing.T, b Backend) {
	s, c := b.New(t), ctx(t)
	for _, k := range []string{"", "/a", "a//b", "../x", "a/../b", ".hidden", "a/.b", "a b", "a\x00b", "a/"} {
		if err := s.Put(c, k, []byte("x"), false); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Get(c, k); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
	if err := s.PutSet(c, "live", map[string]storage.File{"a": {Data: []byte("x")}}); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("PutSet of a one-segment key = %v, want ErrInvalidKey", err)
	}
	if err := s.PutSet(c, "live/x", map[string]storage.File{"../a": {Data: []byte("x")}}); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("PutSet with a bad member = %v, want ErrInvalidKey", err)
	}
	if _, err := s.TryLock(c, "a/b", time.Minute); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("TryLock of a bad name = %v, want ErrInvalidKey", err)
	}
}

func set(gen string, extra bool) map[string]storage.File {
	m := map[string]storage.File{
		storage.CertFile:    {Data: []byte("cert " + gen)},
		storage.PrivKeyFile: {Data: []byte("key " + gen), Private: true},
	}
	if extra {
		m[storage.ChainFile] = storage.File{Data: []byte("chain " + gen)}
	}
	return m
}

func testPutSet(t *testing.T, b Backend) {
	s, c := b.New(t), ctx(t)
	if err := s.PutSet(c, storage.LiveKey("a.test"), set("1", true)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSet(c, storage.LiveKey("a.test"), set("2", false)); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(c, storage.LiveKey("a.test"))
	if want := []string{storage.CertFile, storage.PrivKeyFile}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("members after replacing the set = %q, %v; want %q (the old chain.pem gone)", got, err, want)
	}
	for name, f := range set("2", false) {
		v, err := s.Get(c, storage.LiveFileKey("a.test", name))
		if err != nil || !bytes.Equal(v, f.Data) {
			t.Errorf("%s = %q, %v; want %q", name, v, err, f.Data)
		}
	}
	if err := s.PutSet(c, storage.LiveKey("a.test"), nil); err == nil {
		t.Error("PutSet of an empty set succeeded")
	}
}

func testLockExcludes(t *testing.T, b Backend) {
	s, c := b.New(t), ctx(t)
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for range 3 {
				l, err := s.Lock(c, "cert-x", time.Minute)
				if err != nil {
					errs <- err
					return
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond) // widen the window a second holder would need
				inside.Add(-1)
				if err := l.Release(c); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if m := maxInside.Load(); m != 1 {
		t.Fatalf("%d holders at once, want 1", m)
	}
}

func testTryLock(t *testing.T, b Backend) {
	s, c := b.New(t), ctx(t)
	l, err := s.TryLock(c, "owner-abc", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TryLock(c, "owner-abc", time.Minute); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("TryLock of a held lock = %v, want ErrLocked", err)
	}
	if err := l.Release(c); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(c); err != nil {
		t.Fatalf("second Release = %v", err)
	}
	l2, err := s.TryLock(c, "owner-abc", time.Minute)
	if err != nil {
		t.Fatalf("TryLock after Release = %v", err)
	}
	_ = l2.Release(c)
}

func testLockCtx(t *testing.T, b Backend) {
	s, c := b.New(t), ctx(t)
	l, err := s.Lock(c, "cert-y", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(c)
	wc, cancel := context.WithTimeout(c, 200*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(wc, "cert-y", time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held lock with a short ctx = %v, want DeadlineExceeded", err)
	}
}

func testFenceHeld(t *testing.T, b Backend) {
	s, c := b.New(t), ctx(t)
	l, err := s.Lock(c, "cert-f", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(c)
	fc := storage.WithFence(c, l)
	if err := s.Put(fc, storage.RenewalKey("f"), []byte("1"), false); err != nil {
		t.Fatalf("fenced Put under a held lock = %v", err)
	}
	if err := s.PutSet(fc, storage.LiveKey("f"), set("1", false)); err != nil {
		t.Fatalf("fenced PutSet under a held lock = %v", err)
	}
	if err := s.Delete(fc, storage.RenewalKey("f")); err != nil {
		t.Fatalf("fenced Delete under a held lock = %v", err)
	}
}

// A write fenced by a lock that was lost (here released, so the next
// holder may have written) changes nothing.
func testFenceReleased(t *testing.T, b Backend) {
	s, c := b.New(t), ctx(t)
	l, err := s.Lock(c, "cert-g", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	fc := storage.WithFence(c, l)
	if err := l.Release(c); err != nil {
		t.Fatal(err)
	}
	l2, err := s.Lock(c, "cert-g", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Release(c)
	if err := s.Put(storage.WithFence(c, l2), storage.RenewalKey("g"), []byte("new holder"), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(fc, storage.RenewalKey("g"), []byte("stale"), false); !errors.Is(err, storage.ErrFenced) {
		t.Errorf("Put fenced by a lost lock = %v, want ErrFenced", err)
	}
	if err := s.PutSet(fc, storage.LiveKey("g"), set("stale", false)); !errors.Is(err, storage.ErrFenced) {
		t.Errorf("PutSet fenced by a lost lock = %v, want ErrFenced", err)
	}
	if err := s.Delete(fc, storage.RenewalKey("g")); !errors.Is(err, storage.ErrFenced) {
		t.Errorf("Delete fenced by a lost lock = %v, want ErrFenced", err)
	}
	if v, err := s.Get(c, storage.RenewalKey("g")); err != nil || string(v) != "new holder" {
		t.Errorf("value after the fenced writes = %q, %v; want the new holder's", v, err)
	}
	if _, err := s.Get(c, storage.LiveFileKey("g", storage.CertFile)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the fenced PutSet left a member: %v", err)
	}
}

// A holder that vanished keeps its lock for at most the lease: TryLock is
// the liveness probe of the cleanup journal.
func testAbandoned(t *testing.T, b Backend) {
	s, c := b.New(t), ctx(t)
	l, err := s.TryLock(c, "owner-gone", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	fc := storage.WithFence(c, l)
	b.Abandon(t, l)
	deadline := time.Now().Add(b.LeaseWait)
	for {
		l2, err := s.TryLock(c, "owner-gone", time.Minute)
		if err == nil {
			defer l2.Release(c)
			break
		}
		if !errors.Is(err, storage.ErrLocked) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("abandoned lock still held after %v", b.LeaseWait)
		}
		select {
		case <-c.Done():
			t.Fatal(c.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if b.Fences {
		if err := s.Put(fc, "journal/x", []byte("late"), true); !errors.Is(err, storage.ErrFenced) {
			t.Errorf("write fenced by an expired lock = %v, want ErrFenced", err)
		}
	}
}

// testScan: a backend with the optional storage.Scanner returns exactly
// the kept keys under the prefix, private values opened.
func testScan(t *testing.T, b Backend) {
	s, c := b.New(t), ctx(t)
	sc, ok := s.(storage.Scanner)
	if !ok {
		t.Skip("the backend has no Scan (optional)")
	}
	for _, name := range []string{"a.test", "b.test"} {
		if err := s.PutSet(c, storage.LiveKey(name), set(name, true)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(c, "livex/c.test", []byte("not under live/"), false); err != nil {
		t.Fatal(err)
	}
	got, err := sc.Scan(c, storage.LiveDir, func(k string) bool {
		return path.Base(k) == storage.CertFile || path.Base(k) == storage.PrivKeyFile
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, name := range []string{"a.test", "b.test"} {
		for _, f := range []string{storage.CertFile, storage.PrivKeyFile} {
			want[storage.LiveFileKey(name, f)] = string(set(name, false)[f].Data)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Scan returned %d keys, want %d: %q", len(got), len(want), slices.Sorted(maps.Keys(got)))
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("Scan %s = %q, want %q", k, got[k], v)
		}
	}
}
