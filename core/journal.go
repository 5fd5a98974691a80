package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/storage"
)

// storeJournal keeps the dns01 cleanup journal in storage under journal/,
// so records presented by a run that crashed are removed by the next one.
// Its entries name their order's owner lock (Adopt), which keeps orders
// running at the same time, in this process or another, out of each
// other's recovery. lease is the owner lock's lease (storage.LeaseOf), set
// once the engine holds that lock, before the first entry is written.
type storeJournal struct {
	s     storage.Storage
	lease string
}

var (
	_ dns01.Journal     = (*storeJournal)(nil)
	_ dns01.Owners      = (*storeJournal)(nil)
	_ dns01.OwnerLeases = (*storeJournal)(nil)
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
// clean the same owner's entries at once.
func (j *storeJournal) Adopt(ctx context.Context, owner string) (func(context.Context), error) {
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
	names, err := j.s.List(ctx, storage.JournalDir)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		b, err := j.s.Get(ctx, storage.JournalKey(n))
		if errors.Is(err, storage.ErrNotFound) {
			continue // cleaned up meanwhile
		}
		if err != nil {
			return nil, err
		}
		out[n] = b
	}
	return out, nil
}
