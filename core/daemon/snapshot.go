package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/zonecert/zonecert/core/storage"
)

// A check's first look at a certificate reads its cert.pem and renewal
// plan (and the renewal check reads cert.pem again): two or three
// requests per certificate, so on etcd a scheduler pass over 10,000
// certificates cost 20,000 to 30,000 round trips. On a store that can
// Scan (storage.Scanner), the daemon instead keeps a snapshot of every
// cert.pem and plan, read in two range requests and read again once it
// is check_interval old, and first looks answer from it.
//
// A stale snapshot costs no correctness: a certificate it shows due (or
// missing) is read again, fresh, under its claim before any order
// (stillDue), and what those fresh reads see replaces the snapshot's
// entry; one it shows not due can only have become due through a write
// by hand (delete, copy), seen at the next refresh, as the lifecycle's
// due time is computed from the clock. Plans are never served from the
// snapshot to a writer: the renewal check's plan update reads the plan
// again under the certificate lock.

type snapshotKey struct{}

// snapshotReads marks ctx as a check's first look, which may be answered
// from the snapshot.
func snapshotReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, snapshotKey{}, true)
}

func fromSnapshot(ctx context.Context) bool {
	v, _ := ctx.Value(snapshotKey{}).(bool)
	return v
}

// snapStore is the daemon's store for checks: Get of a certificate's
// cert.pem in a first look comes from the snapshot; every other call
// goes to the store, and fresh reads of cert.pem update the snapshot.
type snapStore struct {
	storage.Storage
	snap *snapshot // nil when the store cannot Scan
}

func newSnapStore(s storage.Storage, maxAge func() time.Duration, now func() time.Time) *snapStore {
	sc, ok := s.(storage.Scanner)
	if !ok {
		return &snapStore{Storage: s}
	}
	return &snapStore{Storage: s, snap: &snapshot{scan: sc, maxAge: maxAge, now: now}}
}

func (s *snapStore) Get(ctx context.Context, key string) ([]byte, error) {
	if s.snap == nil || !isCertKey(key) {
		return s.Storage.Get(ctx, key)
	}
	return s.read(ctx, key)
}

// Put writes through: the renewal check's plan update (the checker's
// store is this one) is seen by the next first look, which would
// otherwise ask the CA again until the next scan.
func (s *snapStore) Put(ctx context.Context, key string, value []byte, private bool) error {
	err := s.Storage.Put(ctx, key, value, private)
	if err == nil && s.snap != nil && (isCertKey(key) || isPlanKey(key)) {
		s.snap.saw(key, value, nil)
	}
	return err
}

// plan reads certificate name's renewal plan, from the snapshot in a
// first look.
func (s *snapStore) plan(ctx context.Context, name string) ([]byte, error) {
	key := storage.RenewalKey(name)
	if s.snap == nil {
		return s.Storage.Get(ctx, key)
	}
	return s.read(ctx, key)
}

func (s *snapStore) read(ctx context.Context, key string) ([]byte, error) {
	if fromSnapshot(ctx) {
		return s.snap.get(ctx, key)
	}
	v, err := s.Storage.Get(ctx, key)
	s.snap.saw(key, v, err)
	return v, err
}

// isCertKey reports whether key is live/<name>/cert.pem.
func isCertKey(key string) bool {
	rest, ok := strings.CutPrefix(key, storage.LiveDir+"/")
	name, file, ok2 := strings.Cut(rest, "/")
	return ok && ok2 && name != "" && file == storage.CertFile
}

func isPlanKey(key string) bool {
	rest, ok := strings.CutPrefix(key, storage.RenewalDir+"/")
	return ok && !strings.Contains(rest, "/") && strings.HasSuffix(rest, ".json")
}

// snapshot holds every cert.pem and renewal plan of the store, by key.
type snapshot struct {
	scan   storage.Scanner
	maxAge func() time.Duration // check_interval of the current generation
	now    func() time.Time

	mu       sync.Mutex
	at       time.Time // of the last scan; zero before the first
	vals     map[string][]byte
	failedAt time.Time // of the last failed scan
	failed   error
}

// scanRetry is how long a failed scan answers for itself: the checks
// waiting for it fail at once (and back off) instead of each waiting out
// another request timeout in turn.
const scanRetry = 5 * time.Second

// get answers key from the snapshot, scanning the store first when the
// snapshot is missing or maxAge old (concurrent first looks wait for
// one scan).
func (s *snapshot) get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); s.at.IsZero() || now.Sub(s.at) >= s.maxAge() {
		if s.failed != nil && now.Sub(s.failedAt) < scanRetry {
			return nil, s.failed
		}
		certs, err := s.scan.Scan(ctx, storage.LiveDir, isCertKey)
		var plans map[string][]byte
		if err == nil {
			plans, err = s.scan.Scan(ctx, storage.RenewalDir, isPlanKey)
		}
		if err != nil {
			s.failed, s.failedAt = fmt.Errorf("reading the store's certificates and plans: %w", err), now
			return nil, s.failed
		}
		s.failed = nil
		for k, v := range plans {
			certs[k] = v
		}
		s.vals, s.at = certs, s.now()
	}
	v, ok := s.vals[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", storage.ErrNotFound, key)
	}
	return v, nil
}

// saw records what a fresh read of key found, so the snapshot does not
// contradict it until the next scan.
func (s *snapshot) saw(key string, v []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vals == nil {
		return
	}
	switch {
	case err == nil:
		s.vals[key] = v
	case errors.Is(err, storage.ErrNotFound):
		delete(s.vals, key)
	}
}
