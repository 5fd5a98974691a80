package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/storage"
)

// storeJournal keeps the dns01 cleanup journal in storage under journal/,
// so records presented by a run that crashed are removed by the next one.
type storeJournal struct{ s storage.Storage }

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
	return j.s.Put(ctx, k, value, true)
}

func (j storeJournal) Delete(ctx context.Context, key string) error {
	k, err := j.key(key)
	if err != nil {
		return err
	}
	return j.s.Delete(ctx, k)
}

func (j storeJournal) List(ctx context.Context) (map[string][]byte, error) {
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
