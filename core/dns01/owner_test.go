package dns01

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zonecert/zonecert/plugin"
)

// fakeOwners says which owners run; Adopt of a gone owner holds it until
// release, like a storage lock.
type fakeOwners struct {
	mu      sync.Mutex
	alive   map[string]bool
	adopted []string
	err     error
}

func (o *fakeOwners) Adopt(_ context.Context, owner string) (func(context.Context), error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return nil, o.err
	}
	if o.alive[owner] {
		return nil, ErrOwnerAlive
	}
	o.alive[owner] = true
	o.adopted = append(o.adopted, owner)
	return func(context.Context) {
		o.mu.Lock()
		defer o.mu.Unlock()
		delete(o.alive, owner)
	}, nil
}

func putEntry(t *testing.T, j Journal, key string, e journalEntry) {
	t.Helper()
	if err := j.Put(t.Context(), key, encodeEntry(e)); err != nil {
		t.Fatal(err)
	}
}

func rec(v string) plugin.Record {
	return plugin.Record{FQDN: "_acme-challenge.a.test.", Zone: "a.test.", Value: v}
}

// Recover touches only entries whose owner is gone and whose provider
// instance is this Solver's; everything else stays journaled as it is.
func TestRecoverOwnersAndProviders(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	j := &MemJournal{}
	putEntry(t, j, "mine", journalEntry{Record: rec("mine"), Owner: "owner-me", Provider: "rfc2136@aa"})
	putEntry(t, j, "live", journalEntry{Record: rec("live"), Owner: "owner-live", Provider: "rfc2136@aa"})
	putEntry(t, j, "dead1", journalEntry{Record: rec("dead1"), Owner: "owner-dead", Provider: "rfc2136@aa"})
	putEntry(t, j, "dead2", journalEntry{Record: rec("dead2"), Owner: "owner-dead", Provider: "rfc2136@aa"})
	putEntry(t, j, "other", journalEntry{Record: rec("other"), Owner: "owner-gone", Provider: "cloudflare"})
	putEntry(t, j, "othercfg", journalEntry{Record: rec("othercfg"), Owner: "owner-gone", Provider: "rfc2136@bb"})
	putEntry(t, j, "legacy", journalEntry{Record: rec("legacy")}) // before owners and providers
	owners := &fakeOwners{alive: map[string]bool{"owner-me": true, "owner-live": true}}
	p := &cleanupLog{}
	s := mustSolver(t, Config{Resolvers: []string{"127.0.0.1"}, Owner: "owner-me", Owners: owners, Provider: "rfc2136@aa"}, p, j)
	n, err := s.Recover(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Recover = %d, %v; want 3", n, err)
	}
	var cleaned []string
	for _, r := range p.cleaned {
		cleaned = append(cleaned, r.Value)
	}
	slices.Sort(cleaned)
	if !slices.Equal(cleaned, []string{"dead1", "dead2", "legacy"}) {
		t.Errorf("cleaned %v, want dead1 dead2 legacy", cleaned)
	}
	left, err := j.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mine", "live", "other", "othercfg"} {
		if _, ok := left[k]; !ok {
			t.Errorf("entry %s was removed", k)
		}
	}
	if len(left) != 4 {
		t.Errorf("journal after Recover holds %d entries, want 4", len(left))
	}
	if slices.Contains(owners.adopted, "owner-live") || slices.Contains(owners.adopted, "owner-me") {
		t.Errorf("adopted %v: a live owner", owners.adopted)
	}
	if len(owners.alive) != 2 {
		t.Errorf("owners held after Recover: %v; adopted locks must be released", owners.alive)
	}

	// A run with the other provider removes its entries once the owner is gone.
	p2 := &cleanupLog{}
	s2 := mustSolver(t, Config{Resolvers: []string{"127.0.0.1"}, Owners: owners, Provider: "cloudflare"}, p2, j)
	if n, err := s2.Recover(ctx); err != nil || n != 1 || p2.cleaned[0].Value != "other" {
		t.Errorf("Recover with the other provider = %d, %v (cleaned %v); want the cloudflare entry", n, err, p2.cleaned)
	}
}

// An owner check that fails is an error, and nothing is cleaned.
func TestRecoverOwnerCheckFails(t *testing.T) {
	t.Parallel()
	j := &MemJournal{}
	putEntry(t, j, "k", journalEntry{Record: rec("v"), Owner: "owner-x"})
	p := &cleanupLog{}
	s := mustSolver(t, Config{Resolvers: []string{"127.0.0.1"}, Owners: &fakeOwners{err: errors.New("disk gone")}}, p, j)
	if n, err := s.Recover(t.Context()); err == nil || n != 0 || len(p.cleaned) != 0 {
		t.Errorf("Recover = %d, %v, cleaned %v; want an error and nothing cleaned", n, err, p.cleaned)
	}
	if left, err := j.List(t.Context()); err != nil || len(left) != 1 {
		t.Errorf("journal = %v, %v", left, err)
	}
}

// Entries a Solver publishes name its owner and provider.
func TestEntriesNameOwnerAndProvider(t *testing.T) {
	t.Parallel()
	s := mustSolver(t, Config{Resolvers: []string{"127.0.0.1"}, Owner: "owner-1", Provider: "p@1"}, &cleanupLog{}, &MemJournal{})
	b := &Batch{Items: []Item{{Challenge: Challenge{Identifier: "a.test"}}}}
	zb := &zoneBatch{items: map[string][]int{"k": {0}}}
	e, err := decodeEntry("k", s.entry(b, zb, plugin.Record{ID: "k", FQDN: "x.a.test.", Zone: "a.test.", Value: "v"}, s.now()))
	if err != nil || e.Owner != "owner-1" || e.Provider != "p@1" || e.Identifier != "a.test" {
		t.Errorf("entry = %+v, %v", e, err)
	}
}

// readLog is a KeyedJournal that records which entries are read, and
// which of them were read while their key's owner was not held.
type readLog struct {
	*MemJournal
	owners    *fakeOwners
	mu        sync.Mutex
	reads     []string
	unadopted []string
}

func (j *readLog) Get(ctx context.Context, key string) ([]byte, bool, error) {
	j.mu.Lock()
	j.reads = append(j.reads, key)
	if owner, ok := keyOwner(key); ok {
		j.owners.mu.Lock()
		if !j.owners.alive[owner] {
			j.unadopted = append(j.unadopted, key)
		}
		j.owners.mu.Unlock()
	}
	j.mu.Unlock()
	return j.MemJournal.Get(ctx, key)
}

// Keys that name their owner let Recover leave a live owner's entries
// unread, and read a vanished one's only once it holds them; older keys
// are read to learn their owner, and the two kinds of one owner are
// cleaned together.
func TestRecoverReadsOnlyAdoptedOwners(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	owners := &fakeOwners{alive: map[string]bool{"owner-me": true, "owner-live": true}}
	j := &readLog{MemJournal: &MemJournal{}, owners: owners}
	key := func(owner string) string {
		k := entryKey(owner)
		if o, ok := keyOwner(k); !ok || o != owner {
			t.Fatalf("keyOwner(%q) = %q, %v; want %q", k, o, ok, owner)
		}
		return k
	}
	mine, live1, live2 := key("owner-me"), key("owner-live"), key("owner-live")
	dead1, dead2, gone := key("owner-dead"), key("owner-dead"), key("owner-gone")
	forged := key("owner-forged") // its entry names a live owner
	putEntry(t, j, mine, journalEntry{Record: rec("mine"), Owner: "owner-me", Provider: "p"})
	putEntry(t, j, live1, journalEntry{Record: rec("live1"), Owner: "owner-live", Provider: "p"})
	putEntry(t, j, live2, journalEntry{Record: rec("live2"), Owner: "owner-live", Provider: "p"})
	putEntry(t, j, dead1, journalEntry{Record: rec("dead1"), Owner: "owner-dead", Provider: "p"})
	putEntry(t, j, dead2, journalEntry{Record: rec("dead2"), Owner: "owner-dead", Provider: "p"})
	putEntry(t, j, "0123456789abcdef01234567", journalEntry{Record: rec("older"), Owner: "owner-dead", Provider: "p"})
	putEntry(t, j, gone, journalEntry{Record: rec("gone"), Owner: "owner-gone", Provider: "other"})
	putEntry(t, j, forged, journalEntry{Record: rec("forged"), Owner: "owner-live", Provider: "p"})
	p := &cleanupLog{}
	s := mustSolver(t, Config{Resolvers: []string{"127.0.0.1"}, Owner: "owner-me", Owners: owners, Provider: "p"}, p, j)
	n, err := s.Recover(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Recover = %d, %v; want 3", n, err)
	}
	var cleaned []string
	for _, r := range p.cleaned {
		cleaned = append(cleaned, r.Value)
	}
	slices.Sort(cleaned)
	if !slices.Equal(cleaned, []string{"dead1", "dead2", "older"}) {
		t.Errorf("cleaned %v, want dead1 dead2 older", cleaned)
	}
	for _, k := range []string{mine, live1, live2} {
		if slices.Contains(j.reads, k) {
			t.Errorf("read %s, an entry of a live owner", k)
		}
	}
	if len(j.unadopted) > 0 {
		t.Errorf("read %v before adopting their owner", j.unadopted)
	}
	left := journalEntries(t, j.MemJournal)
	for _, k := range []string{mine, live1, live2, gone, forged} {
		if _, ok := left[k]; !ok {
			t.Errorf("entry %s was removed", k)
		}
	}
	if len(left) != 5 {
		t.Errorf("journal after Recover holds %d entries, want 5", len(left))
	}
	if len(owners.alive) != 2 {
		t.Errorf("owners held after Recover: %v; adopted locks must be released", owners.alive)
	}
}

// Only owners spelled like lock names go into keys; keys stay [a-z0-9-].
func TestEntryKeys(t *testing.T) {
	t.Parallel()
	for owner, named := range map[string]bool{"owner-0a1b": true, "solver-x--y-": true, "": false, "Owner": false, "a/b": false, "a.b": false} {
		k := entryKey(owner)
		o, ok := keyOwner(k)
		if ok != named || (named && o != owner) {
			t.Errorf("entryKey(%q) = %q: owner %q, %v", owner, k, o, ok)
		}
		if strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Errorf("entryKey(%q) = %q, outside [a-z0-9-]", owner, k)
		}
	}
	for _, k := range []string{"0123456789abcdef01234567", "--0123456789abcdef01234567", "a--0123456789abcdef0123456", "a--0123456789ABCDEF01234567", "mine"} {
		if o, ok := keyOwner(k); ok {
			t.Errorf("keyOwner(%q) = %q, want none", k, o)
		}
	}
}
