package dns01

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzJournalEntry feeds the journal decoder arbitrary bytes: it never
// panics, an entry it accepts has a record to clean up, and re-encoding an
// accepted entry decodes to the same entry (so a rewrite loses nothing).
// Seeds (every format: v0, v1, v1 with owner and provider, newer, broken)
// are in testdata/fuzz/FuzzJournalEntry.
func FuzzJournalEntry(f *testing.F) {
	f.Fuzz(func(t *testing.T, key string, raw []byte) {
		e, err := decodeEntry(key, raw)
		if err != nil {
			if errors.Is(err, errNewerEntry) && e.Record.FQDN != "" {
				t.Fatal("a newer entry came back with a record")
			}
			return
		}
		r := e.Record
		if r.FQDN == "" || r.Zone == "" || r.Value == "" || r.ID != key {
			t.Fatalf("accepted entry without a full record: %+v", e)
		}
		if e.Version > journalVersion {
			t.Fatalf("accepted version %d > %d", e.Version, journalVersion)
		}
		again, err := decodeEntry(key, encodeEntry(e))
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", e, err)
		}
		if again.Record.FQDN != r.FQDN || again.Record.Zone != r.Zone || again.Record.Value != r.Value ||
			again.Record.TTL != r.TTL || !bytes.Equal(again.Record.State, r.State) ||
			again.Owner != e.Owner || again.Provider != e.Provider || again.Identifier != e.Identifier ||
			!again.Created.Equal(e.Created) {
			t.Fatalf("round trip changed the entry:\n%+v\n%+v", e, again)
		}
	})
}
