package dns01

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Journal keeps what is needed to clean up published records, so cleanup
// survives a crash. The engine's storage implements it.
//
// Contract: Put stores (or replaces) a small JSON blob under key durably
// before returning; Delete of an absent key succeeds; List returns every
// entry. Keys are short strings of [a-z0-9-]. Implementations must be safe
// for concurrent use.
type Journal interface {
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context) (map[string][]byte, error)
}

// journalEntry is one record as journaled: written before Present (State
// empty) and again with the provider's cleanup state after it.
type journalEntry struct {
	FQDN       string    `json:"fqdn"`
	Zone       string    `json:"zone"`
	Value      string    `json:"value"`
	TTL        uint32    `json:"ttl,omitempty"`
	State      []byte    `json:"state,omitempty"`
	Identifier string    `json:"identifier,omitempty"`
	Created    time.Time `json:"created"`
}

// MemJournal is an in-memory Journal for tests and one-shot runs that
// accept losing cleanup state on a crash. The zero value is ready to use.
type MemJournal struct {
	mu sync.Mutex
	m  map[string][]byte
}

var _ Journal = (*MemJournal)(nil)

// Put implements Journal.
func (j *MemJournal) Put(_ context.Context, key string, value []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.m == nil {
		j.m = map[string][]byte{}
	}
	j.m[key] = append([]byte(nil), value...)
	return nil
}

// Delete implements Journal.
func (j *MemJournal) Delete(_ context.Context, key string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.m, key)
	return nil
}

// List implements Journal.
func (j *MemJournal) List(context.Context) (map[string][]byte, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return maps.Clone(j.m), nil
}

// DirJournal is a Journal of one file per key in Dir (created 0700, files
// 0600, written atomically), for tests of crash recovery and small set-ups.
type DirJournal struct {
	Dir string
}

var _ Journal = DirJournal{}

func (j DirJournal) path(key string) (string, error) {
	if key == "" || strings.Trim(key, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return "", fmt.Errorf("journal key %q: want [a-z0-9-]", key)
	}
	return filepath.Join(j.Dir, key+".json"), nil
}

// Put implements Journal: temp file, fsync, rename.
func (j DirJournal) Put(_ context.Context, key string, value []byte) error {
	p, err := j.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(j.Dir, 0o700); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	f, err := os.CreateTemp(j.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(value); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Delete implements Journal.
func (j DirJournal) Delete(_ context.Context, key string) error {
	p, err := j.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// List implements Journal.
func (j DirJournal) List(context.Context) (map[string][]byte, error) {
	ents, err := os.ReadDir(j.Dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		key, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(j.Dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		out[key] = b
	}
	return out, nil
}

func encodeEntry(e journalEntry) []byte {
	b, _ := json.Marshal(e) // cannot fail: plain fields only
	return b
}
