package etcdstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/internal/testenv"
)

const pemKey = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI...\n-----END EC PRIVATE KEY-----\n"

// Private values reach etcd sealed; read without the key, with another
// key, or moved to another key, they are refused with a clear error.
func TestPrivateValuesSealed(t *testing.T) {
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	k1, k2 := testKey(t), testKey(t)
	s := newStore(t, e, Options{Keys: [][]byte{k1}})
	key := storage.LiveFileKey("a.test", storage.PrivKeyFile)
	if err := s.PutSet(ctx, storage.LiveKey("a.test"), map[string]storage.File{
		storage.CertFile:    {Data: []byte("-----BEGIN CERTIFICATE-----\n")},
		storage.PrivKeyFile: {Data: []byte(pemKey), Private: true},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "accounts/ca/1/key.pem", []byte(pemKey), true); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{key, "accounts/ca/1/key.pem"} {
		raw, err := s.cli.Get(ctx, s.EtcdKey(k))
		if err != nil || len(raw.Kvs) != 1 {
			t.Fatalf("raw get %s: %v", k, err)
		}
		if v := raw.Kvs[0].Value; bytes.Contains(v, []byte("PRIVATE KEY")) || bytes.Contains(v, []byte("MHcC")) {
			t.Errorf("raw etcd value of %s holds the key in the clear: %q", k, v)
		}
	}
	if got, err := s.Get(ctx, key); err != nil || string(got) != pemKey {
		t.Fatalf("Get with the key = %q, %v", got, err)
	}

	prefix := strings.Trim(s.prefix, "/")
	noKey := newStore(t, e, Options{Prefix: prefix})
	if _, err := noKey.Get(ctx, key); !errors.Is(err, ErrNoKey) {
		t.Errorf("Get without a key = %v, want ErrNoKey", err)
	}
	if err := noKey.Put(ctx, "journal/x", []byte("secret"), true); !errors.Is(err, ErrNoKey) {
		t.Errorf("private Put without a key = %v, want ErrNoKey", err)
	}
	wrong := newStore(t, e, Options{Prefix: prefix, Keys: [][]byte{k2}})
	if _, err := wrong.Get(ctx, key); !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), KeyID(k1)) {
		t.Errorf("Get with another key = %v, want ErrWrongKey naming key id %s", err, KeyID(k1))
	}
	// Rotation: the new key first seals, the old one still opens.
	rotated := newStore(t, e, Options{Prefix: prefix, Keys: [][]byte{k2, k1}})
	if got, err := rotated.Get(ctx, key); err != nil || string(got) != pemKey {
		t.Errorf("Get during rotation = %q, %v", got, err)
	}
	// A sealed value moved to another key does not open (the key is the
	// associated data).
	raw, _ := s.cli.Get(ctx, s.EtcdKey(key))
	if _, err := s.cli.Put(ctx, s.EtcdKey("accounts/ca/2/key.pem"), string(raw.Kvs[0].Value)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "accounts/ca/2/key.pem"); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Get of a value moved to another key = %v, want ErrWrongKey", err)
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	k := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	keys, err := ParseKeys([]byte("# current\n" + k + "\n\n" + k + "\n"))
	if err != nil || len(keys) != 2 {
		t.Fatalf("ParseKeys = %d keys, %v", len(keys), err)
	}
	for _, bad := range []string{"", "# only a comment\n", "c2hvcnQ=\n", "not base64!\n"} {
		if _, err := ParseKeys([]byte(bad)); err == nil {
			t.Errorf("ParseKeys(%q) succeeded", bad)
		}
	}
}
