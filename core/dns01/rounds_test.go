package dns01

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/plugin"
)

func TestRounds(t *testing.T) {
	item := func(id, fqdn, value string) Item {
		return Item{Challenge: Challenge{Identifier: id, Value: value}, FQDN: fqdn}
	}
	const apex, www = "a.acme.test.", "w.acme.test."
	tests := []struct {
		name  string
		items []Item
		max   int
		want  string
	}{
		{"no limit", []Item{item("*.ex.test", apex, "1"), item("ex.test", apex, "2"), item("x.ex.test", apex, "3")}, 0, "[[0 1 2]]"},
		{"wildcard and apex together at two", []Item{item("*.ex.test", apex, "1"), item("ex.test", apex, "2")}, 2, "[[0 1]]"},
		{"apex first", []Item{item("ex.test", apex, "1"), item("*.ex.test", apex, "2")}, 2, "[[0 1]]"},
		{"one value per name splits the pair", []Item{item("*.ex.test", apex, "1"), item("ex.test", apex, "2")}, 1, "[[0] [1]]"},
		// Two domains CNAMEd to one acme-dns account: each pair keeps together.
		{"two pairs at one name", []Item{item("ex.test", apex, "1"), item("www.ex.test", apex, "3"),
			item("*.ex.test", apex, "2"), item("*.www.ex.test", apex, "4")}, 2, "[[0 2] [1 3]]"},
		{"names do not share a cap", []Item{item("*.ex.test", apex, "1"), item("ex.test", apex, "2"),
			item("www.ex.test", www, "3")}, 2, "[[0 1 2]]"},
		{"one value twice counts once", []Item{item("ex.test", apex, "1"), item("ex.test", apex, "1"),
			item("*.ex.test", apex, "2")}, 2, "[[0 1 2]]"},
		{"a later single fills a gap", []Item{item("*.ex.test", apex, "1"), item("ex.test", apex, "2"),
			item("x.test", apex, "3"), item("y.test", apex, "4")}, 3, "[[0 1 2] [3]]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fmt.Sprint(Rounds(tt.items, tt.max))
			if got != tt.want {
				t.Fatalf("Rounds = %s, want %s", got, tt.want)
			}
		})
	}
}

// declared is the host's plugin client in miniature: it has WaitForSync
// whatever the plugin behind it declares.
type declared struct {
	*syncingProvider
	caps plugin.Capabilities
}

func (d declared) Capabilities() plugin.Capabilities { return d.caps }

// TestDeclaredCapabilitiesDecide: a provider that has WaitForSync but does
// not declare sync is neither asked nor reported as syncing, and one that
// declares it cannot delete is reported as leaving its records in place,
// never as removing them.
func TestDeclaredCapabilitiesDecide(t *testing.T) {
	t.Parallel()
	z := newFakeZone(t)
	p := declared{&syncingProvider{fakeZone: z}, plugin.Capabilities{NoDelete: true}}
	obs := &progressLog{}
	cfg := Config{Resolvers: []string{z.srv.addr.String()}, NameserverPort: int(z.srv.addr.Port()), Observer: obs}
	s := mustSolver(t, cfg, p, &MemJournal{})
	batch, err := s.Prepare(t.Context(), []Challenge{{"s.odd.test", "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), batch, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.CleanUp(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	if len(p.synced) != 0 {
		t.Errorf("WaitForSync called on a provider that does not declare it: %+v", p.synced)
	}
	want := []progress.Stage{progress.Publishing, progress.Propagating, progress.Propagated, progress.CleaningUp, progress.LeftInPlace}
	if got := obs.stages("s.odd.test"); !slices.Equal(got, want) {
		t.Errorf("stages %v, want %v", got, want)
	}
}
