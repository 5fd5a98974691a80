package core

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/plugin"
)

// countingStore counts the storage calls a recovery makes.
type countingStore struct {
	storage.Storage
	gets, tryLocks atomic.Int32
}

func (s *countingStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.gets.Add(1)
	return s.Storage.Get(ctx, key)
}

func (s *countingStore) TryLock(ctx context.Context, name string, lease time.Duration) (storage.Lock, error) {
	s.tryLocks.Add(1)
	return s.Storage.TryLock(ctx, name, lease)
}

// cleanedLog is a provider that records what it is asked to clean.
type cleanedLog struct {
	mu      sync.Mutex
	cleaned []string // record values
}

func (p *cleanedLog) Present(context.Context, []plugin.Record) ([]plugin.Result, error) {
	return nil, fmt.Errorf("not used")
}

func (p *cleanedLog) CleanUp(_ context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []plugin.Result
	for _, r := range recs {
		p.cleaned = append(p.cleaned, r.Value)
		out = append(out, plugin.Result{ID: r.ID})
	}
	return out, nil
}

// putOwnerEntry journals one record of owner under a key that names the
// owner, as dns01 writes them.
func putOwnerEntry(t *testing.T, s storage.Storage, owner, value string) {
	t.Helper()
	key := owner + "--" + newOwnerID()
	raw := fmt.Sprintf(`{"v":1,"record":{"FQDN":"_acme-challenge.%s.engine.test.","Zone":"engine.test.","Value":%q},"owner":%q}`,
		value, value, owner)
	if err := s.Put(t.Context(), storage.JournalKey(key), []byte(raw), true); err != nil {
		t.Fatal(err)
	}
}

// The storm's fast path: one order's recovery with many orders of this
// process in flight reads none of their entries and probes none of their
// locks; owners it cannot vouch for are asked of storage as before, and a
// vanished one's records are still removed.
func TestRecoverSkipsLiveOwnersWithoutIO(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fs, err := storage.NewFS(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Storage: fs}
	prov := &cleanedLog{}
	e, err := New(Config{Storage: store, Provider: prov})
	if err != nil {
		t.Fatal(err)
	}
	const live = 50
	for i := range live {
		owner := storage.OwnerLock(newOwnerID())
		l, err := fs.TryLock(ctx, owner, ownerLease)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Release(context.Background()) })
		e.live.add(owner)
		putOwnerEntry(t, fs, owner, fmt.Sprintf("live%d-a", i))
		putOwnerEntry(t, fs, owner, fmt.Sprintf("live%d-b", i))
	}
	// An order of another process: its lock is held, but not by us.
	foreign := storage.OwnerLock(newOwnerID())
	fl, err := fs.TryLock(ctx, foreign, ownerLease)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = fl.Release(context.Background()) }()
	putOwnerEntry(t, fs, foreign, "foreign")
	// An order that vanished: its lock is free.
	dead := storage.OwnerLock(newOwnerID())
	putOwnerEntry(t, fs, dead, "dead-a")
	putOwnerEntry(t, fs, dead, "dead-b")

	journal := &storeJournal{s: store, live: e.live}
	me := storage.OwnerLock(newOwnerID())
	solver, err := e.newSolver(Request{Resolvers: []string{"127.0.0.1:53"}}, journal, me)
	if err != nil {
		t.Fatal(err)
	}
	n, err := solver.Recover(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v; want the vanished order's 2 records", n, err)
	}
	slices.Sort(prov.cleaned)
	if !slices.Equal(prov.cleaned, []string{"dead-a", "dead-b"}) {
		t.Errorf("cleaned %v, want only the vanished order's", prov.cleaned)
	}
	// One probe each for the foreign and the vanished owner, and reads of
	// the vanished owner's entries only.
	if got := store.tryLocks.Load(); got != 2 {
		t.Errorf("Recover took %d TryLocks with %d live owners in this process, want 2", got, live)
	}
	if got := store.gets.Load(); got != 2 {
		t.Errorf("Recover read %d entries with %d live owners in this process, want 2", got, live)
	}
	left, err := fs.List(ctx, storage.JournalDir)
	if err != nil || len(left) != 2*live+1 {
		t.Errorf("journal holds %d entries after Recover (%v), want %d", len(left), err, 2*live+1)
	}
}

// An order is in its engine's LiveOwners exactly while it holds its owner
// lock, and engines sharing one set see each other's orders.
func TestObtainRegistersLiveOwner(t *testing.T) {
	env := startEngineEnv(t)
	ctx := t.Context()
	shared := &LiveOwners{}
	var during []string
	obs := progress.ObserverFunc(func(_ context.Context, ev progress.Event) {
		if ev.Stage == progress.Propagating {
			shared.mu.Lock()
			for o := range shared.m {
				during = append(during, o)
			}
			shared.mu.Unlock()
		}
	})
	eng, err := New(Config{Storage: env.store, Provider: env.prov, HTTPClient: env.pebble.HTTPClient, Observer: obs, LiveOwners: shared})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Obtain(ctx, env.request("live.engine.test")); err != nil {
		t.Fatal(err)
	}
	if len(during) == 0 || !strings.HasPrefix(during[0], "owner-") {
		t.Errorf("live owners during the order: %v, want its owner lock", during)
	}
	if len(shared.m) != 0 {
		t.Errorf("live owners after the order: %v, want none", shared.m)
	}
}
