package dns01

import (
	"testing"
)

// TestAttachDetails: each record carries the details of the challenge it
// was made from, wildcard and apex at one name included.
func TestAttachDetails(t *testing.T) {
	t.Parallel()
	z := newFakeZone(t)
	cfg := Config{Resolvers: []string{z.srv.addr.String()}, NameserverPort: int(z.srv.addr.Port())}
	s := mustSolver(t, cfg, &syncingProvider{fakeZone: z}, &MemJournal{})
	batch, err := s.Prepare(t.Context(), []Challenge{{Identifier: "*.s.odd.test", Value: "v1"}, {Identifier: "s.odd.test", Value: "v2"}})
	if err != nil {
		t.Fatal(err)
	}
	batch.AttachDetails([]Details{{Token: "t1", KeyAuthorization: "t1.k"}, {Token: "t2", KeyAuthorization: "t2.k"}})
	want := map[string][3]string{"v1": {"*.s.odd.test", "t1", "t1.k"}, "v2": {"s.odd.test", "t2", "t2.k"}}
	n := 0
	for _, zb := range batch.zones {
		for _, r := range zb.records {
			n++
			if got := [3]string{r.Identifier, r.Token, r.KeyAuthorization}; got != want[r.Value] {
				t.Errorf("record %s: details %v, want %v", r.Value, got, want[r.Value])
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d records, want 2", n)
	}
}
