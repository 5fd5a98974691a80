package etcdstore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Private values (private keys, account keys, journal entries) are sealed
// with AES-256-GCM before they reach etcd; the storage key (without the
// prefix, so a copy to another prefix still opens) is the associated data,
// so a value moved to another key does not open either.
//
// Sealed value: magic | key id (8 bytes) | nonce (12 bytes) | ciphertext.
// The key id names which of the configured keys sealed it, so a wrong key
// is a clear error rather than a failed open, and several keys can be given
// during a rotation: the first seals, all of them open.
const magic = "zonecert-sealed-v1\x00"

const (
	keyLen   = 32
	idLen    = 8
	nonceLen = 12
)

// ErrNoKey: a private value was read or written without an encryption key.
var ErrNoKey = errors.New("etcdstore: no storage encryption key given (ZONECERT_STORAGE_KEY_FILE or ZONECERT_STORAGE_KEY)")

// ErrWrongKey: a sealed value was sealed with a key that was not given, or
// does not open with it.
var ErrWrongKey = errors.New("etcdstore: wrong storage encryption key")

type sealer struct {
	ids   [][idLen]byte
	aeads []cipher.AEAD
}

// ParseKeys reads encryption keys: one base64 32-byte key a line (blank
// lines and lines starting with # are skipped). The first key seals new
// values; every key opens values it sealed.
func ParseKeys(text []byte) ([][]byte, error) {
	var keys [][]byte
	for line := range strings.SplitSeq(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(k) != keyLen {
			return nil, fmt.Errorf("etcdstore: a storage encryption key is %d random bytes in base64 (openssl rand -base64 32); line %d is not", keyLen, len(keys)+1)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("etcdstore: the storage encryption key file holds no key")
	}
	return keys, nil
}

// KeyID is the public name of a key, shown in errors so operators can tell
// which key a value needs.
func KeyID(key []byte) string {
	id := keyID(key)
	return hex.EncodeToString(id[:])
}

func keyID(key []byte) [idLen]byte {
	h := sha256.Sum256(append([]byte("zonecert storage key id\x00"), key...))
	var id [idLen]byte
	copy(id[:], h[:])
	return id
}

func newSealer(keys [][]byte) (*sealer, error) {
	s := &sealer{}
	for _, k := range keys {
		if len(k) != keyLen {
			return nil, fmt.Errorf("etcdstore: storage encryption key must be %d bytes, got %d", keyLen, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.ids = append(s.ids, keyID(k))
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

func sealed(v []byte) bool { return bytes.HasPrefix(v, []byte(magic)) }

func (s *sealer) seal(key string, plain []byte) ([]byte, error) {
	if len(s.aeads) == 0 {
		return nil, fmt.Errorf("refusing to store private value %s in etcd in the clear: %w", key, ErrNoKey)
	}
	out := make([]byte, 0, len(magic)+idLen+nonceLen+len(plain)+s.aeads[0].Overhead())
	out = append(out, magic...)
	out = append(out, s.ids[0][:]...)
	nonce := make([]byte, nonceLen)
	_, _ = rand.Read(nonce)
	out = append(out, nonce...)
	return s.aeads[0].Seal(out, nonce, plain, []byte(key)), nil
}

func (s *sealer) open(key string, v []byte) ([]byte, error) {
	rest := v[len(magic):]
	if len(rest) < idLen+nonceLen {
		return nil, fmt.Errorf("%s: sealed value is truncated", key)
	}
	id, nonce, ct := rest[:idLen], rest[idLen:idLen+nonceLen], rest[idLen+nonceLen:]
	if len(s.aeads) == 0 {
		return nil, fmt.Errorf("%s is encrypted (key id %x): %w", key, id, ErrNoKey)
	}
	for i := range s.ids {
		if bytes.Equal(s.ids[i][:], id) {
			plain, err := s.aeads[i].Open(nil, nonce, ct, []byte(key))
			if err != nil {
				return nil, fmt.Errorf("%s: %w: the value does not open (altered, or copied from another key)", key, ErrWrongKey)
			}
			return plain, nil
		}
	}
	return nil, fmt.Errorf("%s was sealed with key id %x, not among the keys given (%s): %w", key, id, s.idList(), ErrWrongKey)
}

func (s *sealer) idList() string {
	var ids []string
	for _, id := range s.ids {
		ids = append(ids, hex.EncodeToString(id[:]))
	}
	return strings.Join(ids, ", ")
}
