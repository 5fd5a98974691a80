package conformance

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/zonecert/zonecert/plugin"
)

// sweep removes every record the checks presented, through a fresh
// instance, and verifies at the nameservers that none is left. It runs as a
// cleanup, when the test's context is already cancelled, so it detaches
// from it (cleanup outlives cancellation) under its own timeout.
func (h *harness) sweep(t *testing.T) {
	h.mu.Lock()
	recs := make([]plugin.Record, 0, len(h.ledger))
	for _, r := range h.ledger {
		recs = append(recs, r)
	}
	h.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].FQDN+recs[i].Value < recs[j].FQDN+recs[j].Value })
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 2*h.cfg.Timeout)
	defer cancel()
	p, c, err := h.cfg.Target.Open(ctx)
	if err != nil {
		t.Errorf("sweep: opening %s: %v", h.cfg.Target.Name, err)
		return
	}
	defer func() { _ = c.Close() }()
	byName := make(map[string]*expect)
	var names []string
	const chunk = 50 // below any sane MaxBatch
	for i := 0; i < len(recs); i += chunk {
		batch := recs[i:min(i+chunk, len(recs))]
		for j := range batch {
			batch[j].ID = fmt.Sprintf("sweep-%d", i+j)
		}
		res, err := h.call(ctx, p.CleanUp, batch)
		if err != nil {
			t.Errorf("sweep: CleanUp(%s): %v", describe(batch), err)
		}
		for _, r := range batch {
			if e := res[r.ID].Err; e != nil {
				t.Errorf("sweep: CleanUp %s %q: %v", r.FQDN, r.Value, e)
			}
			if byName[r.FQDN] == nil {
				byName[r.FQDN] = &expect{fqdn: r.FQDN}
				names = append(names, r.FQDN)
			}
			byName[r.FQDN].absent = append(byName[r.FQDN].absent, r.Value)
		}
	}
	if h.caps().NoDelete {
		return // nothing can be removed; CleanUp was called for form's sake
	}
	exps := make([]expect, len(names))
	for i, n := range names {
		exps[i] = *byName[n]
	}
	if err := h.await(ctx, exps...); err != nil {
		t.Errorf("sweep: records left behind: %v", err)
	}
}
