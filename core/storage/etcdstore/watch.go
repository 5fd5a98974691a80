package etcdstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zonecert/zonecert/core/storage"
)

// ReadSet reads every member of set key (e.g. live/<name>) at one
// revision, opened, so a reader never mixes two sets. rev is the
// revision read (watch from rev+1 to miss nothing).
func (s *Store) ReadSet(ctx context.Context, key string) (files map[string][]byte, rev int64, err error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, 0, err
	}
	p := s.EtcdKey(key) + "/"
	resp, err := s.cli.Get(ctx, p, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, s.wrap("reading", key, err)
	}
	files = map[string][]byte{}
	for _, kv := range resp.Kvs {
		name := strings.TrimPrefix(string(kv.Key), p)
		if strings.Contains(name, "/") {
			continue
		}
		v, err := s.Open(key+"/"+name, kv.Value)
		if err != nil {
			return nil, 0, err
		}
		files[name] = v
	}
	return files, resp.Header.Revision, nil
}

// Watch watches every key under prefix from revision rev on. The channel
// closes when ctx ends or the watch fails (then read again and re-watch);
// WithRequireLeader makes a partitioned member end it rather than go
// silent.
func (s *Store) Watch(ctx context.Context, prefix string, rev int64) clientv3.WatchChan {
	return s.cli.Watch(clientv3.WithRequireLeader(ctx), s.EtcdKey(prefix)+"/", clientv3.WithPrefix(), clientv3.WithRev(rev))
}

// Probe asks the cluster one cheap question within timeout, so a command
// fails with a clear error rather than waiting on an unreachable cluster
// (the client retries a refused TLS handshake or a dead endpoint silently).
func (s *Store) Probe(ctx context.Context, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := s.cli.Get(pctx, s.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		if pctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("etcd at %s did not answer within %v (unreachable, or it refused the TLS client certificate): %w", s.where, timeout, err)
		}
		return s.wrap("reaching", "the cluster", err)
	}
	return nil
}
