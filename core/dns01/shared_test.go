package dns01

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// Ten orders (ten solvers) publishing in one zone through one Coalescer
// and one Shared, behind a secondary that lags 1 s: one Present call and
// one CleanUp call for all of them, each Publish returns only once every
// server serves its record, and the solvers shared name server answers
// rather than each asking on its own.
func TestSharedWaitAndCoalescedPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs BIND9 and root")
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "shared.test"}}, Secondary: true, SecondaryLag: testLag})
	p := &updateProvider{bind: b}
	co := NewCoalescer(p, CoalescerConfig{Window: 300 * time.Millisecond})
	shared := NewShared(0, nil)
	const orders = 10
	errs := make([]error, orders)
	var wg sync.WaitGroup
	for i := range orders {
		wg.Go(func() {
			cfg := testConfig(b)
			cfg.Shared = shared
			s := mustSolver(t, cfg, co, &MemJournal{})
			name := fmt.Sprintf("h%d.shared.test", i)
			v := txtValue(name)
			batch, err := s.Prepare(t.Context(), []Challenge{{name, v}})
			if err != nil {
				errs[i] = err
				return
			}
			defer func() {
				if err := s.CleanUp(context.WithoutCancel(t.Context()), batch); err != nil && errs[i] == nil {
					errs[i] = err
				}
			}()
			if errs[i] = s.Publish(t.Context(), batch, time.Time{}); errs[i] != nil {
				return
			}
			// Publish returned: every server, the lagging one too, serves it.
			got, err := b.TXT(t.Context(), b.Secondary, "_acme-challenge."+name+".")
			if err != nil || len(got) != 1 || got[0] != v {
				errs[i] = fmt.Errorf("%s: the secondary serves %q (%v) after Publish", name, got, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	p.mu.Lock()
	presents, cleanups := p.presents["shared.test."], p.cleanups
	p.mu.Unlock()
	if presents != 1 || cleanups != 1 {
		t.Errorf("%d Present and %d CleanUp calls for %d orders, want 1 each", presents, cleanups, orders)
	}
	asked, served := shared.Counts()
	t.Logf("name server questions: %d asked, %d answered from another order's question", asked, served)
	if served == 0 {
		t.Error("no answer was shared between the orders")
	}
}
