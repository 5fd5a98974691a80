package dns01

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zonecert/zonecert/plugin"
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

// KeyedJournal is an optional part of a Journal: its keys without their
// values, and one entry at a time. Recover uses it to read only the entries
// it may clean, those of owners that are gone (see entryKey); a Journal
// without it is read whole (List).
//
// Contract: Keys returns every key, values unread; Get returns the value
// at key, or ok false when there is none (removed meanwhile).
type KeyedJournal interface {
	Keys(ctx context.Context) ([]string, error)
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
}

// ownerSep joins an owner to a record's own ID in a journal key.
const ownerSep = "--"

// entryKey is the ID of a new record of owner, which is also its journal
// key: "<owner>--<24 hex>" when owner is of [a-z0-9-], so Recover can tell
// whose entries are whose from the keys alone and read none of a live
// owner's; otherwise (and in journals written before this) the bare 24 hex.
func entryKey(owner string) string {
	id := newID()
	if owner == "" || strings.Trim(owner, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return id
	}
	return owner + ownerSep + id
}

// keyOwner is the owner an entryKey names, if it names one. The entry
// itself stays the authority: Recover checks the two agree.
func keyOwner(key string) (string, bool) {
	i := strings.LastIndex(key, ownerSep)
	if i <= 0 || !isID(key[i+len(ownerSep):]) {
		return "", false
	}
	return key[:i], true
}

// isID reports whether s is as newID makes them.
func isID(s string) bool {
	return len(s) == 24 && strings.Trim(s, "0123456789abcdef") == ""
}

// journalVersion is the format of journal entries. Fields are only ever
// added (an owner, a provider instance); the version counts changes a
// reader must understand, and entries newer than the reader are left
// alone rather than misread or dropped.
const journalVersion = 1

// journalEntry is one record as journaled: written before Present (no
// State) and again with the provider's cleanup state after it. The record
// is plugin.Record as handed to the provider; its ID is the journal key.
//
// Owner names the run that presented the record (Config.Owner); while the
// owner lives, no one else touches the entry. Provider is the provider
// instance that presented it (Config.Provider); only that one can remove
// it. Entries written before these fields have neither.
type journalEntry struct {
	Version    int           `json:"v"`
	Record     plugin.Record `json:"record"`
	Identifier string        `json:"identifier,omitempty"`
	Created    time.Time     `json:"created"`
	Owner      string        `json:"owner,omitempty"`
	// Lease is the lease that keeps Owner alive (an etcd lease ID), when
	// the journal says (OwnerLeases): for operators, not for Recover.
	Lease    string `json:"lease,omitempty"`
	Provider string `json:"provider,omitempty"`
}

// OwnerLeases is an optional part of a Journal: the lease the running
// order's owner is held on, written into its entries (empty: none).
type OwnerLeases interface {
	OwnerLease() string
}

// ErrOwnerAlive is returned by Owners.Adopt while an entry's owner runs.
var ErrOwnerAlive = errors.New("dns01: journal owner still running")

// Owners tells Recover whether the run that wrote journal entries is gone.
// The engine implements it with storage locks (an owner lock held for the
// whole order, free once the process dies).
//
// Contract: Adopt returns ErrOwnerAlive (wrapped) at once if owner is still
// running. Otherwise it takes over owner, so no other Recover cleans the
// same entries at the same time, and returns a release to call after the
// entries are cleaned up. It never waits for a live owner.
type Owners interface {
	Adopt(ctx context.Context, owner string) (release func(context.Context), err error)
}

func encodeEntry(e journalEntry) []byte {
	e.Version = journalVersion
	b, _ := json.Marshal(e) // cannot fail: plain fields only
	return b
}

// errNewerEntry marks an entry written by a newer zonecert.
var errNewerEntry = errors.New("journal entry of a newer format")

// decodeEntry reads an entry of any version up to journalVersion; version
// 0 (before the field "v") kept the record's fields flat.
func decodeEntry(key string, raw []byte) (journalEntry, error) {
	var e struct {
		journalEntry
		FQDN  string `json:"fqdn"`
		Zone  string `json:"zone"`
		Value string `json:"value"`
		TTL   uint32 `json:"ttl"`
		State []byte `json:"state"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return journalEntry{}, err
	}
	if e.Version > journalVersion {
		return journalEntry{}, fmt.Errorf("%w (v%d)", errNewerEntry, e.Version)
	}
	out := e.journalEntry
	if out.Version == 0 {
		out.Record = plugin.Record{FQDN: e.FQDN, Zone: e.Zone, Value: e.Value, TTL: e.TTL, State: e.State}
	}
	out.Record.ID = key
	r := out.Record
	if r.FQDN == "" || r.Zone == "" || r.Value == "" {
		return journalEntry{}, errors.New("journal entry without a record")
	}
	return out, nil
}

// MemJournal is an in-memory Journal for tests and one-shot runs that
// accept losing cleanup state on a crash. The zero value is ready to use.
type MemJournal struct {
	mu sync.Mutex
	m  map[string][]byte
}

var (
	_ Journal      = (*MemJournal)(nil)
	_ KeyedJournal = (*MemJournal)(nil)
)

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

// Keys implements KeyedJournal.
func (j *MemJournal) Keys(context.Context) ([]string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Sorted(maps.Keys(j.m)), nil
}

// Get implements KeyedJournal.
func (j *MemJournal) Get(_ context.Context, key string) ([]byte, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	v, ok := j.m[key]
	return slices.Clone(v), ok, nil
}

// listedJournal serves a Journal without KeyedJournal from one List.
type listedJournal map[string][]byte

func (l listedJournal) Keys(context.Context) ([]string, error) {
	return slices.Sorted(maps.Keys(l)), nil
}

func (l listedJournal) Get(_ context.Context, key string) ([]byte, bool, error) {
	v, ok := l[key]
	return v, ok, nil
}
