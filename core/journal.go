package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/storage"
)

// storeJournal keeps the dns01 cleanup journal in storage under journal/,
// so records presented by a run that crashed are removed by the next one.
// Its entries name their order's owner lock (Adopt), which keeps orders
// running at the same time, in this process or another, out of each
// other's recovery. lease is the owner lock's lease (storage.LeaseOf), set
// once the engine holds that lock, before the first entry is written.
//
// live, when set, holds the owners this process's orders run: Adopt
// answers for them from memory.
type storeJournal struct {
	s     storage.Storage
	lease string
	live  *LiveOwners
}

var (
	_ dns01.Journal      = (*storeJournal)(nil)
	_ dns01.KeyedJournal = (*storeJournal)(nil)
	_ dns01.Owners       = (*storeJournal)(nil)
	_ dns01.OwnerLeases  = (*storeJournal)(nil)
)

// OwnerLease implements dns01.OwnerLeases.
func (j *storeJournal) OwnerLease() string { return j.lease }

// ownerLease bounds how long a vanished owner keeps its entries on backends
// with leases (FS frees the lock when the process dies).
const ownerLease = lockLease

// newOwnerID names one order's owner lock (storage.OwnerLock). Every
// journal entry of the order names that lock, and the order holds it until
// its records are cleaned up, so recovery by any other order, in this
// process or another, leaves them alone.
func newOwnerID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails (crypto/rand contract)
	return hex.EncodeToString(b)
}

// Adopt implements dns01.Owners: an owner is gone when its lock is free.
// The lock stays held by the caller until release, so two recoveries never
// clean the same owner's entries at once. An owner in j.live is alive
// without asking storage: its lock is held in this process.
func (j *storeJournal) Adopt(ctx context.Context, owner string) (func(context.Context), error) {
	if j.live.has(owner) {
		return nil, fmt.Errorf("%w: %s", dns01.ErrOwnerAlive, owner)
	}
	l, err := j.s.TryLock(ctx, owner, ownerLease)
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("%w: %s", dns01.ErrOwnerAlive, owner)
	}
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) { _ = l.Release(ctx) }, nil
}

func (j *storeJournal) key(k string) (string, error) {
	key := storage.JournalKey(k)
	if err := storage.ValidateKey(key); err != nil {
		return "", fmt.Errorf("journal key: %w", err)
	}
	return key, nil
}

func (j *storeJournal) Put(ctx context.Context, key string, value []byte) error {
	k, err := j.key(key)
	if err != nil {
		return err
	}
	return j.s.Put(ctx, k, value, true)
}

func (j *storeJournal) Delete(ctx context.Context, key string) error {
	k, err := j.key(key)
	if err != nil {
		return err
	}
	return j.s.Delete(ctx, k)
}

func (j *storeJournal) List(ctx context.Context) (map[string][]byte, error) {
	names, err := j.Keys(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		b, ok, err := j.Get(ctx, n)
		if err != nil {
			return nil, err
		}
		if ok {
			out[n] = b
		}
	}
	return out, nil
}

// Keys implements dns01.KeyedJournal: names only, no entry is read.
func (j *storeJournal) Keys(ctx context.Context) ([]string, error) {
	return j.s.List(ctx, storage.JournalDir)
}

// Get implements dns01.KeyedJournal.
func (j *storeJournal) Get(ctx context.Context, key string) ([]byte, bool, error) {
	k, err := j.key(key)
	if err != nil {
		return nil, false, err
	}
	b, err := j.s.Get(ctx, k)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, false, nil // cleaned up meanwhile
	}
	return b, err == nil, err
}

// LiveOwners is the set of owner locks (storage.OwnerLock) that the orders
// of one process hold. Engines that share one (Config.LiveOwners) answer
// each other's recovery from memory: without it, each order would probe
// the lock of every order in flight, a storage TryLock each, which grows
// with the square of the orders in flight. An owner is added once its lock
// is held and removed before the lock is released, so one in the set is
// alive; one not in it is asked of storage as before. The zero value is
// ready to use.
type LiveOwners struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func (l *LiveOwners) add(owner string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]struct{}{}
	}
	l.m[owner] = struct{}{}
}

func (l *LiveOwners) remove(owner string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, owner)
}

func (l *LiveOwners) has(owner string) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.m[owner]
	return ok
}
