package daemon

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/storage"
)

// The daemon journals an order's records under its plugin's fingerprint,
// as obtain and renew do, although a coalescer stands in front of the
// plugin; so a daemon order never adopts a vanished owner's records of
// another provider, and leaves them for a run with that provider.
func TestDaemonJournalsUnderThePluginsFingerprint(t *testing.T) {
	w := startWorld(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfg := w.config(t, "authoritative", "30s", "j")
	d := w.daemon(t, cfg)
	// A dead run of another provider left this entry (its owner lock is
	// free: nobody holds it).
	other := `{"v":1,"record":{"FQDN":"_acme-challenge.j.inproc.test.","Zone":"inproc.test.","Value":"left-by-another-provider","TTL":60},` +
		`"created":"2026-01-01T00:00:00Z","owner":"0123456789abcdef01234567","provider":"route53@0123456789ab"}`
	if err := d.store.Put(ctx, storage.JournalKey("leftover"), []byte(other), true); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var journaled []string
	d.store = &watchedJournal{Storage: d.store, put: func(v []byte) {
		mu.Lock()
		defer mu.Unlock()
		journaled = append(journaled, string(v))
	}}
	cert, _ := cfg.Certificate("j")
	if _, err := d.order(ctx, d.current(), cert, Due{Reason: reasonMissing}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(journaled) == 0 {
		t.Fatal("the order journaled nothing")
	}
	for _, e := range journaled {
		if !strings.Contains(e, `"provider":"rfc2136@`) {
			t.Errorf("journal entry %s does not name the plugin's fingerprint", e)
		}
	}
	if _, err := d.store.Get(ctx, storage.JournalKey("leftover")); err != nil {
		t.Errorf("another provider's entry was taken (%v): an order must leave it to that provider", err)
	}
}

// watchedJournal reports each journal entry written.
type watchedJournal struct {
	storage.Storage
	put func([]byte)
}

func (s *watchedJournal) Put(ctx context.Context, key string, value []byte, private bool) error {
	if strings.HasPrefix(key, storage.JournalDir+"/") {
		s.put(value)
	}
	return s.Storage.Put(ctx, key, value, private)
}
