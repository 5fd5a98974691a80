package dns01

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin"
)

func TestMemJournal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	j := &MemJournal{}
	if m, err := j.List(ctx); err != nil || len(m) != 0 {
		t.Fatalf("empty List = %v, %v", m, err)
	}
	if err := j.Put(ctx, "abc-1", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := j.Put(ctx, "abc-1", []byte(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	if err := j.Put(ctx, "def", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	m, err := j.List(ctx)
	if err != nil || len(m) != 2 || string(m["abc-1"]) != `{"a":2}` {
		t.Fatalf("List = %q, %v", m, err)
	}
	if err := j.Delete(ctx, "def"); err != nil {
		t.Fatal(err)
	}
	if err := j.Delete(ctx, "def"); err != nil {
		t.Errorf("deleting an absent key: %v", err)
	}
	if m := journalEntries(t, j); len(m) != 1 {
		t.Errorf("after Delete: %q", m)
	}
}

func TestJournalEntryFormats(t *testing.T) {
	t.Parallel()
	rec := plugin.Record{ID: "k1", FQDN: "_acme-challenge.a.test.", Zone: "a.test.", Value: "v", TTL: 60, State: []byte("st")}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	got, err := decodeEntry("k1", encodeEntry(journalEntry{Record: rec, Identifier: "a.test", Created: created}))
	if err != nil || got.Version != journalVersion || got.Record.FQDN != rec.FQDN || string(got.Record.State) != "st" ||
		got.Record.ID != "k1" || got.Identifier != "a.test" || !got.Created.Equal(created) {
		t.Errorf("round trip = %+v, %v", got, err)
	}
	// Version 0, written before entries held plugin.Record, still reads.
	v0 := `{"fqdn":"_acme-challenge.a.test.","zone":"a.test.","value":"v","ttl":60,"state":"c3Q=","identifier":"a.test","created":"2026-01-02T03:04:05Z"}`
	got, err = decodeEntry("k0", []byte(v0))
	if err != nil || got.Record.Zone != "a.test." || got.Record.Value != "v" || string(got.Record.State) != "st" || got.Record.ID != "k0" {
		t.Errorf("v0 = %+v, %v", got, err)
	}
	if _, err := decodeEntry("k", []byte(`{"v":99,"record":{"FQDN":"x.","Zone":"x.","Value":"v"}}`)); !errors.Is(err, errNewerEntry) {
		t.Errorf("newer entry: err %v, want errNewerEntry", err)
	}
	for _, bad := range []string{`{`, `{"v":1}`, `{"fqdn":"x."}`} {
		if _, err := decodeEntry("k", []byte(bad)); err == nil || errors.Is(err, errNewerEntry) {
			t.Errorf("decodeEntry(%s) = %v, want an error", bad, err)
		}
	}
}

// cleanupLog is a provider that only records what it is asked to clean.
type cleanupLog struct{ cleaned []plugin.Record }

func (p *cleanupLog) Present(context.Context, []plugin.Record) ([]plugin.Result, error) {
	return nil, errors.New("not used")
}

func (p *cleanupLog) CleanUp(_ context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	var out []plugin.Result
	for _, r := range recs {
		p.cleaned = append(p.cleaned, r)
		out = append(out, plugin.Result{ID: r.ID})
	}
	return out, nil
}

// Recover cleans entries of this and the older format, drops unreadable
// ones and leaves those of a newer format to the zonecert that wrote them.
func TestRecoverEntryFormats(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	j := &MemJournal{}
	entries := map[string]string{
		"v1":       string(encodeEntry(journalEntry{Record: plugin.Record{FQDN: "_acme-challenge.a.test.", Zone: "a.test.", Value: "1", State: []byte("s")}})),
		"v0":       `{"fqdn":"_acme-challenge.b.test.","zone":"a.test.","value":"0"}`,
		"newer":    `{"v":2,"record":{"FQDN":"_acme-challenge.c.test.","Zone":"a.test.","Value":"2"}}`,
		"garbage":  `{`,
		"norecord": `{"v":1}`,
	}
	for k, v := range entries {
		if err := j.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	p := &cleanupLog{}
	s := mustSolver(t, Config{Resolvers: []string{"127.0.0.1"}}, p, j)
	n, err := s.Recover(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v; want 2", n, err)
	}
	got := map[string]string{}
	for _, r := range p.cleaned {
		got[r.ID] = r.Value + "/" + string(r.State)
	}
	if len(got) != 2 || got["v1"] != "1/s" || got["v0"] != "0/" {
		t.Errorf("cleaned %v", got)
	}
	left := journalEntries(t, j)
	if _, ok := left["newer"]; !ok || len(left) != 1 {
		t.Errorf("journal after Recover: %q; want only the newer entry", left)
	}
}
