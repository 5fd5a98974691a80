// Package storage is zonecert's state store: accounts, certificates and the
// cleanup journal. [Storage] is the contract; [FS] is the embedded
// filesystem backend, and core/storage/etcdstore the shared one for fleets
// of daemons: flat slash-separated keys, an atomic multi-key set, a lock
// with a lease, and writes fenced by a lock. core/storage/storagetest is
// the contract's test suite every backend runs.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrInvalidKey: the key is malformed (empty segment, "..", bad byte).
	ErrInvalidKey = errors.New("storage: invalid key")
	// ErrLocked: TryLock found the lock held by someone else.
	ErrLocked = errors.New("storage: locked")
	// ErrFenced: a write made under a lock (WithFence) was refused because
	// the lock is no longer held: its lease ran out, so another holder may
	// have written since.
	ErrFenced = errors.New("storage: fenced: the lock this write was made under is no longer held")
)

// File is one member of an atomic set written by [Storage.PutSet].
type File struct {
	Data []byte
	// Private marks secret material (private keys): written 0600 by FS.
	// Other files are 0644, but always inside 0700 directories.
	Private bool
}

// Storage is a small key/value store with an atomic multi-key write and a
// named lock.
//
// Keys are slash-separated paths of one or more segments; each segment is
// made of letters, digits and "._-+=@" and does not start with a dot.
//
// Contract:
//   - Put is atomic: a reader sees the old value or the new one, never a mix,
//     and a crash at any point leaves one of the two.
//   - PutSet replaces every file under key at once: readers of key+"/"+name
//     see the complete old set or the complete new set. A new certificate
//     never replaces a good one until all of its files are durable.
//     Callers serialize PutSets of one key (a lock); a PutSet may then
//     remove the temporary leftovers of an earlier, interrupted one.
//   - Get of an absent key returns an error wrapping ErrNotFound; Delete of
//     an absent key succeeds.
//   - List returns the names of the immediate children of prefix, sorted.
//   - Lock blocks until the named lock is held or ctx ends; a backend may
//     also bound the wait (etcd: 15 min by default, so a holder that hangs
//     while keeping its lease alive does not block its waiters forever) and
//     then fail with an error wrapping ErrLocked that names the holder. The lease bounds
//     how long a holder that vanished keeps it; backends that release locks
//     when the process dies (FS) may ignore it. A lock is held by one Lock
//     value: a second Lock of the same name waits, in the same process too.
//   - TryLock is Lock without the wait: it returns an error wrapping
//     ErrLocked at once when another holder has the lock. A lock whose
//     holder died (or whose lease ran out) is free. That makes a lock a
//     liveness signal: the cleanup journal names each entry's owner lock,
//     and an entry whose owner lock TryLock can take belongs to no one.
//     Releasing a lock may forget its name (FS removes an owner lock's file).
//   - LocalPath returns the file a key is kept in when the backend keeps
//     keys as local files (FS), so users can be pointed at them; other
//     backends return false. It does no I/O and does not check existence.
//   - Fencing: a write (Put, PutSet, Delete) whose ctx carries a lock
//     (WithFence) is made only while that lock is still held, checked in
//     the same atomic step as the write; otherwise it fails with an error
//     wrapping ErrFenced and changes nothing. A holder paused past its
//     lease (GC, SIGSTOP, a partition) thus cannot overwrite what the next
//     holder wrote. Backends whose locks cannot be lost while the process
//     lives (FS: the kernel holds the flock) may ignore the fence.
//   - Every method is safe for concurrent use.
//
// The keys zonecert uses are built in layout.go.
type Storage interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte, private bool) error
	PutSet(ctx context.Context, key string, files map[string]File) error
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, key string) error
	Lock(ctx context.Context, name string, lease time.Duration) (Lock, error)
	TryLock(ctx context.Context, name string, lease time.Duration) (Lock, error)
	LocalPath(key string) (string, bool)
}

// Scanner is an optional capability of a Storage, for backends where a
// request costs more than the bytes it carries (etcd; FS does not have it).
// Scan returns the value of every key under prefix that keep accepts,
// read at one point in time, in one request: a reader of many keys pays
// one round trip instead of one per key. Values of keys keep rejects may
// still be transferred, but are neither opened nor returned. Callers on a
// Storage without it read key by key (List, Get), which on a local FS
// costs no more.
type Scanner interface {
	Scan(ctx context.Context, prefix string, keep func(key string) bool) (map[string][]byte, error)
}

// Lock is a held lock; Release it when done (releasing twice is harmless).
type Lock interface {
	Release(ctx context.Context) error
}

// ValidateKey reports whether key is a well-formed storage key.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := validSegment(seg); err != nil {
			return fmt.Errorf("%w %q: %v", ErrInvalidKey, key, err)
		}
	}
	return nil
}

func validSegment(seg string) error {
	if seg == "" {
		return errors.New("empty segment")
	}
	if seg[0] == '.' {
		return errors.New("segment starts with a dot")
	}
	for i := 0; i < len(seg); i++ {
		if !allowed(seg[i]) {
			return fmt.Errorf("byte %q not allowed", seg[i])
		}
	}
	return nil
}

func allowed(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("._-+=@", c) >= 0
}

// SafeSegment maps an arbitrary string (a CA host with a port, an account
// URL) to a valid key segment, replacing anything not allowed with '_'.
func SafeSegment(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !allowed(c) {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	if b[0] == '.' {
		b[0] = '_'
	}
	return string(b)
}

// LeaseOf names the lease l is held on, for people reading logs and
// journal entries: on etcd the lease ID in hex (as etcdctl prints it),
// empty on backends without leases (FS).
func LeaseOf(l Lock) string {
	if x, ok := l.(interface{ LeaseID() string }); ok {
		return x.LeaseID()
	}
	return ""
}

type fenceKey struct{}

// WithFence returns a ctx whose writes are fenced by l (see Storage): they
// succeed only while l is held.
func WithFence(ctx context.Context, l Lock) context.Context {
	return context.WithValue(ctx, fenceKey{}, l)
}

// FenceOf returns the lock ctx's writes are fenced by, or nil.
func FenceOf(ctx context.Context) Lock {
	l, _ := ctx.Value(fenceKey{}).(Lock)
	return l
}
