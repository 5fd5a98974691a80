package daemon

import (
	"context"
	"strings"
	"sync"

	"github.com/zonecert/zonecert/core/storage"
)

// ownedStore hides the journal entries of this process's running orders
// from List. Every order starts by cleaning up the records that earlier
// runs left in the journal; without this, one order of the daemon would
// remove the records another is still being validated with. Entries of a
// process that died (kill -9) stay visible, so the next order removes them.
type ownedStore struct {
	storage.Storage

	mu   sync.Mutex
	mine map[string]bool // journal keys written by this process, not yet deleted
}

const journalPrefix = storage.JournalDir + "/"

func newOwnedStore(s storage.Storage) *ownedStore {
	return &ownedStore{Storage: s, mine: map[string]bool{}}
}

func (s *ownedStore) Put(ctx context.Context, key string, value []byte, private bool) error {
	if strings.HasPrefix(key, journalPrefix) {
		s.mu.Lock()
		s.mine[key] = true
		s.mu.Unlock()
	}
	return s.Storage.Put(ctx, key, value, private)
}

func (s *ownedStore) Delete(ctx context.Context, key string) error {
	err := s.Storage.Delete(ctx, key)
	if err == nil && strings.HasPrefix(key, journalPrefix) {
		s.mu.Lock()
		delete(s.mine, key)
		s.mu.Unlock()
	}
	return err
}

func (s *ownedStore) List(ctx context.Context, prefix string) ([]string, error) {
	names, err := s.Storage.List(ctx, prefix)
	if err != nil || strings.TrimSuffix(prefix, "/")+"/" != journalPrefix {
		return names, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := names[:0:0]
	for _, n := range names {
		if !s.mine[journalPrefix+n] {
			out = append(out, n)
		}
	}
	return out, nil
}
