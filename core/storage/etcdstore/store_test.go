package etcdstore

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/core/storage/storagetest"
	"github.com/zonecert/zonecert/internal/testenv"
)

// testLockTTL keeps lease tests short; production uses DefaultLockTTL.
const testLockTTL = 2 * time.Second

func testKey(t testing.TB) []byte {
	k := make([]byte, keyLen)
	_, _ = rand.Read(k)
	return k
}

// newStore opens a Store on a fresh random prefix of cluster e.
func newStore(t testing.TB, e *testenv.Etcd, opts Options) *Store {
	t.Helper()
	if opts.Endpoints == nil {
		opts.Endpoints = e.Endpoints()
	}
	if opts.Prefix == "" {
		p := make([]byte, 6)
		_, _ = rand.Read(p)
		opts.Prefix = "t" + hex.EncodeToString(p)
	}
	if opts.LockTTL == 0 {
		opts.LockTTL = testLockTTL
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	e := testenv.StartEtcd(t, 1)
	key := testKey(t)
	storagetest.Run(t, storagetest.Backend{
		New: func(t *testing.T) storage.Storage {
			return newStore(t, e, Options{Keys: [][]byte{key}})
		},
		Abandon:   func(t *testing.T, l storage.Lock) { l.(*Lock).Abandon() },
		LeaseWait: 3 * testLockTTL,
		Fences:    true,
	})
}
