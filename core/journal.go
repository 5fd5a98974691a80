package core

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/storage"
)

// storeJournal keeps the dns01 cleanup journal in storage under journal/,
// so records presented by a run that crashed are removed by the next one.
//
// live, when shared by the engines of one process (a renew run), hides
// the entries of their orders still in flight from each other's recovery.
type storeJournal struct {
	s    storage.Storage
	live *liveKeys
}

// liveKeys is the set of journal keys written and not yet removed by this
// process.
type liveKeys struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (l *liveKeys) set(k string, on bool) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[string]bool{}
	}
	if on {
		l.keys[k] = true
	} else {
		delete(l.keys, k)
	}
}

func (l *liveKeys) has(k string) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keys[k]
}

var _ dns01.Journal = storeJournal{}

func (j storeJournal) key(k string) (string, error) {
	key := storage.JournalKey(k)
	if err := storage.ValidateKey(key); err != nil {
		return "", fmt.Errorf("journal key: %w", err)
	}
	return key, nil
}

func (j storeJournal) Put(ctx context.Context, key string, value []byte) error {
	k, err := j.key(key)
	if err != nil {
		return err
	}
	j.live.set(key, true)
	return j.s.Put(ctx, k, value, true)
}

func (j storeJournal) Delete(ctx context.Context, key string) error {
	k, err := j.key(key)
	if err != nil {
		return err
	}
	if err := j.s.Delete(ctx, k); err != nil {
		return err
	}
	j.live.set(key, false)
	return nil
}

func (j storeJournal) List(ctx context.Context) (map[string][]byte, error) {
	names, err := j.s.List(ctx, storage.JournalDir)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		if j.live.has(n) {
			continue // another order of this process is using it
		}
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
