// Package etcdstore is the etcd v3 backend of [storage.Storage], for fleets
// of daemons that share their state, and for agents that only read it.
//
// A key k lives at the etcd key <prefix>/k. A set (PutSet) is its members'
// keys, replaced in one transaction. Locks are concurrency.Mutex keys under
// <prefix>/locks/<name>/, each on its own lease (a concurrency.Session kept
// alive while held), so a holder that dies or pauses loses the lock after
// the lease TTL. Writes fenced by a lock (storage.WithFence) are
// transactions that compare the lock key's create revision. Private
// values are sealed (crypt.go). No archive of old sets is kept.
package etcdstore

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/zonecert/zonecert/core/storage"
)

// DefaultLockTTL is the lease of a lock: how long a holder that vanished
// (or froze) keeps it. The session keeps it alive while the holder runs.
const DefaultLockTTL = 10 * time.Second

// RequestTimeout bounds each etcd request by default (not a Lock's wait). Without it
// a request caught in a leader change can wait forever: the caller's ctx
// (a daemon's lifetime) has no deadline, and the client retries quietly.
// It is above the server's own request timeout (7 s by default), so a
// slow cluster answers with its error rather than ours.
const RequestTimeout = 10 * time.Second

// DefaultLockWait bounds how long a Lock waits for another holder. A
// holder that dies frees the lock within its lease (10 s), so a longer wait
// means a live holder: another order of the certificate (one order may wait
// minutes for DNS), or one that hangs while its keep-alives go on. Past the
// bound, Lock fails naming the holder's lease rather than wait forever.
const DefaultLockWait = 15 * time.Minute

// LocksDir is the key segment under the prefix that holds the locks.
const LocksDir = "locks"

// Options configure a Store.
type Options struct {
	// Endpoints are the cluster's client URLs or host:port pairs.
	Endpoints []string
	// Prefix is the key prefix of this zonecert state ("zonecert" when
	// empty); several installations share a cluster under different ones.
	Prefix string
	// Username and Password enable etcd authentication.
	Username, Password string
	// TLS, when set, is used for the client connections (with client
	// certificates when it holds any).
	TLS *tls.Config
	// Keys seal private values: the first seals, all open (see ParseKeys).
	// Without keys, private values can be neither written nor read.
	Keys [][]byte
	// LockTTL is the lease of locks (DefaultLockTTL when zero); a Lock's
	// own lease argument lowers it.
	LockTTL time.Duration
	// DialTimeout bounds connecting (5 s when zero).
	DialTimeout time.Duration
	// RequestTimeout bounds each request (RequestTimeout when zero).
	RequestTimeout time.Duration
	// LockWait bounds a Lock's wait for another holder (DefaultLockWait
	// when zero; negative: only the caller's ctx).
	LockWait time.Duration
}

// Store is an etcd-backed storage.Storage.
type Store struct {
	cli    *clientv3.Client
	prefix string // "/<prefix>/"
	where  string
	seal   *sealer
	ttl    time.Duration
	reqTTL time.Duration
	wait   time.Duration // a Lock's wait; < 0 unbounded
}

var (
	_ storage.Storage = (*Store)(nil)
	_ storage.Scanner = (*Store)(nil)
)

// New connects to the cluster. It does not wait for it to be reachable:
// every operation fails with a clear error while it is not.
func New(opts Options) (*Store, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcdstore: no endpoints")
	}
	prefix := strings.Trim(opts.Prefix, "/")
	if prefix == "" {
		prefix = "zonecert"
	}
	for seg := range strings.SplitSeq(prefix, "/") {
		if err := storage.ValidateKey(seg); err != nil {
			return nil, fmt.Errorf("etcdstore: prefix %q: %w", opts.Prefix, err)
		}
	}
	sl, err := newSealer(opts.Keys)
	if err != nil {
		return nil, err
	}
	ttl := opts.LockTTL
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	dial := opts.DialTimeout
	if dial <= 0 {
		dial = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            opts.Endpoints,
		DialTimeout:          dial,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		Username:             opts.Username,
		Password:             opts.Password,
		TLS:                  opts.TLS,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcdstore: %w", err)
	}
	return &Store{
		cli:    cli,
		prefix: "/" + prefix + "/",
		where:  "etcd://" + strings.Join(opts.Endpoints, ",") + "/" + prefix,
		seal:   sl,
		ttl:    ttl,
		reqTTL: cmp.Or(opts.RequestTimeout, RequestTimeout),
		wait:   cmp.Or(opts.LockWait, DefaultLockWait),
	}, nil
}

// Close closes the client; locks still held are released by their leases.
func (s *Store) Close() error { return s.cli.Close() }

// Client is the underlying etcd client (watches, the agent).
func (s *Store) Client() *clientv3.Client { return s.cli }

// String names the store for messages: etcd://endpoints/prefix.
func (s *Store) String() string { return s.where }

// EtcdKey is the etcd key that holds storage key k.
func (s *Store) EtcdKey(k string) string { return s.prefix + k }

// StorageKey is the inverse of EtcdKey; ok is false outside the prefix.
func (s *Store) StorageKey(etcdKey string) (string, bool) {
	return strings.CutPrefix(etcdKey, s.prefix)
}

// LocalPath reports false: nothing is a local file.
func (s *Store) LocalPath(string) (string, bool) { return "", false }

// Open decodes a raw etcd value of storage key k: sealed values are
// opened, others returned as they are.
func (s *Store) Open(k string, raw []byte) ([]byte, error) {
	if sealed(raw) {
		return s.seal.open(k, raw)
	}
	return raw, nil
}

// Get reads the value at key, opening it when sealed.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Get(rctx, s.EtcdKey(key))
	if err != nil {
		return nil, s.wrap("reading", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%w: %s", storage.ErrNotFound, key)
	}
	return s.Open(key, resp.Kvs[0].Value)
}

func (s *Store) value(key string, v []byte, private bool) (string, error) {
	if private {
		b, err := s.seal.seal(key, v)
		return string(b), err
	}
	return string(v), nil
}

// Put writes value at key (sealed when private), fenced by ctx's lock.
func (s *Store) Put(ctx context.Context, key string, value []byte, private bool) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	v, err := s.value(key, value, private)
	if err != nil {
		return err
	}
	return s.commit(ctx, "writing", key, clientv3.OpPut(s.EtcdKey(key), v))
}

// Delete removes key; an absent key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	return s.commit(ctx, "deleting", key, clientv3.OpDelete(s.EtcdKey(key)))
}

// PutSet replaces the members of key in one transaction: readers of one
// revision see the old set or the new one. Members of the old set absent
// from the new one are deleted in the same transaction.
func (s *Store) PutSet(ctx context.Context, key string, files map[string]storage.File) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	first, _, ok := strings.Cut(key, "/")
	if !ok || first == storage.ArchiveDir {
		return fmt.Errorf("%w %q: a set needs a key like live/<name>", storage.ErrInvalidKey, key)
	}
	if len(files) == 0 {
		return errors.New("storage: empty set")
	}
	var ops []clientv3.Op
	for _, name := range slices.Sorted(maps.Keys(files)) {
		mk := key + "/" + name
		if err := storage.ValidateKey(mk); err != nil || strings.Contains(name, "/") {
			return fmt.Errorf("%w: set member %q", storage.ErrInvalidKey, name)
		}
		v, err := s.value(mk, files[name].Data, files[name].Private)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(s.EtcdKey(mk), v))
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	old, err := s.cli.Get(rctx, s.EtcdKey(key)+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return s.wrap("reading", key, err)
	}
	for _, kv := range old.Kvs {
		name := strings.TrimPrefix(string(kv.Key), s.EtcdKey(key)+"/")
		if _, keep := files[name]; !keep {
			ops = append(ops, clientv3.OpDelete(string(kv.Key)))
		}
	}
	return s.commit(ctx, "writing set", key, ops...)
}

// commit runs ops in one transaction, under the fence of ctx when it
// carries one of this backend's locks.
func (s *Store) commit(ctx context.Context, verb, key string, ops ...clientv3.Op) error {
	var cmps []clientv3.Cmp
	if l, ok := storage.FenceOf(ctx).(*Lock); ok {
		cmps = append(cmps, l.mu.IsOwner())
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Txn(rctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return s.wrap(verb, key, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%s %s: %w", verb, key, storage.ErrFenced)
	}
	return nil
}

// List returns the sorted names of the immediate children of prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	p := s.prefix
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		if err := storage.ValidateKey(prefix); err != nil {
			return nil, err
		}
		p += prefix + "/"
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Get(rctx, p, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, s.wrap("listing", prefix, err)
	}
	var names []string
	for _, kv := range resp.Kvs {
		name, _, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), p), "/")
		if name != "" && (len(names) == 0 || names[len(names)-1] != name) {
			names = append(names, name)
		}
	}
	// Keys come sorted, so children are grouped; names are too.
	return slices.Compact(names), nil
}

// Scan reads every key under prefix in one range request (one
// revision) and returns the opened values of those keep accepts
// (storage.Scanner).
func (s *Store) Scan(ctx context.Context, prefix string, keep func(key string) bool) (map[string][]byte, error) {
	prefix = strings.Trim(prefix, "/")
	if err := storage.ValidateKey(prefix); err != nil {
		return nil, err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Get(rctx, s.EtcdKey(prefix)+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, s.wrap("reading", prefix, err)
	}
	vals := map[string][]byte{}
	for _, kv := range resp.Kvs {
		k, ok := s.StorageKey(string(kv.Key))
		if !ok || !keep(k) {
			continue
		}
		v, err := s.Open(k, kv.Value)
		if err != nil {
			return nil, err
		}
		vals[k] = v
	}
	return vals, nil
}

// request bounds one etcd request (and ctx).
func (s *Store) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.reqTTL)
}

func (s *Store) wrap(verb, key string, err error) error {
	return fmt.Errorf("%s %s in %s: %w", verb, key, s.where, err)
}

// Lock is a held etcd lock: a mutex key on its own lease.
type Lock struct {
	sess   *concurrency.Session
	mu     *concurrency.Mutex
	reqTTL time.Duration // bounds the release
	once   sync.Once
	err    error
}

// Lease is the ID of the lease the lock is held on.
func (l *Lock) Lease() int64 { return int64(l.sess.Lease()) }

// LeaseID is Lease in hex, as etcdctl prints it (storage.LeaseOf).
func (l *Lock) LeaseID() string { return strconv.FormatInt(l.Lease(), 16) }

// Abandon stops keeping the lease alive without releasing, as a holder
// that froze or lost the network would: the lock ends when the lease runs
// out. For tests.
func (l *Lock) Abandon() { l.sess.Orphan() }

// Lost is closed when the lock's lease ends (released, expired, or the
// keep-alive failed): writes fenced by it then fail.
func (l *Lock) Lost() <-chan struct{} { return l.sess.Done() }

// Release unlocks and revokes the lease; releasing twice is harmless.
func (l *Lock) Release(ctx context.Context) error {
	l.once.Do(func() {
		rctx, cancel := context.WithTimeout(ctx, l.reqTTL)
		defer cancel()
		err := l.mu.Unlock(rctx)
		l.err = errors.Join(err, l.sess.Close())
	})
	return l.err
}

func (s *Store) session(ctx context.Context, lease time.Duration) (*concurrency.Session, error) {
	ttl := s.ttl
	if lease > 0 && lease < ttl {
		ttl = lease
	}
	secs := max(1, int64(math.Ceil(ttl.Seconds())))
	rctx, cancel := s.request(ctx)
	defer cancel()
	g, err := s.cli.Grant(rctx, secs)
	if err != nil {
		return nil, err
	}
	// The session keeps the lease alive on the client's context, not ctx:
	// ctx bounds only the wait for the lock.
	sess, err := concurrency.NewSession(s.cli, concurrency.WithLease(g.ID), concurrency.WithTTL(int(secs)))
	if err != nil {
		vctx, vcancel := s.request(context.WithoutCancel(ctx))
		defer vcancel()
		_, _ = s.cli.Revoke(vctx, g.ID)
		return nil, err
	}
	return sess, nil
}

func (s *Store) lockPrefix(name string) (string, error) {
	if err := storage.ValidateKey(name); err != nil || strings.Contains(name, "/") {
		return "", fmt.Errorf("%w: lock %q", storage.ErrInvalidKey, name)
	}
	return s.prefix + LocksDir + "/" + name, nil
}

// Lock waits (on a watch) until the named lock is held or ctx ends, at
// most Options.LockWait: then it fails with an error wrapping
// storage.ErrLocked that names the holder's lease.
func (s *Store) Lock(ctx context.Context, name string, lease time.Duration) (storage.Lock, error) {
	return s.lock(ctx, name, lease, true)
}

// TryLock takes the named lock or returns storage.ErrLocked at once.
func (s *Store) TryLock(ctx context.Context, name string, lease time.Duration) (storage.Lock, error) {
	return s.lock(ctx, name, lease, false)
}

func (s *Store) lock(ctx context.Context, name string, lease time.Duration, wait bool) (storage.Lock, error) {
	pfx, err := s.lockPrefix(name)
	if err != nil {
		return nil, err
	}
	sess, err := s.session(ctx, lease)
	if err != nil {
		return nil, s.wrap("locking", name, err)
	}
	mu := concurrency.NewMutex(sess, pfx)
	if wait {
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if s.wait > 0 {
			wctx, cancel = context.WithTimeoutCause(ctx, s.wait, errWaitedTooLong)
		}
		err = mu.Lock(wctx)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(context.Cause(wctx), errWaitedTooLong) {
			_ = sess.Close()
			return nil, fmt.Errorf("%w: %s is held by %s, still alive after %v: another order or command for it is running, or its holder hangs",
				storage.ErrLocked, name, s.holder(ctx, pfx), s.wait)
		}
	} else {
		rctx, cancel := s.request(ctx)
		err = mu.TryLock(rctx)
		cancel()
	}
	if err != nil {
		_ = sess.Close()
		if errors.Is(err, concurrency.ErrLocked) {
			return nil, fmt.Errorf("%w: %s", storage.ErrLocked, name)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for lock %s: %w", name, context.Cause(ctx))
		}
		return nil, s.wrap("locking", name, err)
	}
	return &Lock{sess: sess, mu: mu, reqTTL: s.reqTTL}, nil
}

var errWaitedTooLong = errors.New("waited longer than the lock wait bound")

// holder names the holder of the lock at pfx for messages: the etcd lease
// of its key (hex, as etcdctl prints it; `etcdctl lease timetolive --keys`
// lists the holder's other locks).
func (s *Store) holder(ctx context.Context, pfx string) string {
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.cli.Get(rctx, pfx+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return "another holder"
	}
	return "etcd lease " + strconv.FormatInt(resp.Kvs[0].Lease, 16)
}
