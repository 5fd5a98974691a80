package conformance

import (
	"context"
	"testing"

	"github.com/zonecert/zonecert/plugin"
)

// checkForeignRestored: a value the kit's records share a name with (a
// user's own TXT record, made through Config.Foreign or, without it, by an
// earlier Present with another TTL) is served after CleanUp exactly as
// before Present: same value, same TTL at every nameserver. An API that
// stores one TTL per RRset must put the old one back (RFC 2181 §5.2 makes
// the TTLs of an RRset equal, so the provider's TTL reaches the foreign
// value while both are there). Where the nameservers serve a fixed TTL the
// comparison still holds; it just cannot see a change.
func checkForeignRestored(t *testing.T, h *harness) {
	if h.caps().NoDelete {
		t.Skip("the provider declares NoDelete: CleanUp changes nothing, so there is nothing to restore")
	}
	h.needValues(t, 2)
	p := h.open(t)
	name := h.name(t, "foreign")
	foreignTTL := h.cfg.TTL*2 + 60 // differs from the kit's TTL, so a change shows
	foreign := h.withDetails(plugin.Record{ID: "foreign", FQDN: name, Zone: h.cfg.Zone, Value: h.value(), TTL: foreignTTL})
	ctx := t.Context()
	if h.cfg.Foreign != nil {
		remove, err := h.cfg.Foreign(ctx, name, foreign.Value, foreignTTL)
		if err != nil {
			t.Fatalf("creating the foreign value: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.Timeout)
			defer cancel()
			if err := remove(ctx); err != nil {
				t.Errorf("removing the foreign value: %v", err)
			}
		})
	} else {
		res := h.mustPresent(t, p, foreign)
		defer h.cleanUp(t, p, withState(res, foreign)...)
	}
	if !h.mustAwait(t, "after creating the foreign value", present(name, foreign.Value)) {
		return
	}
	before, ok := h.ttls(t, name, foreign.Value)
	if !ok {
		return
	}
	r := h.rec("1", name, h.value())
	res := h.mustPresent(t, p, r)
	if !h.mustAwait(t, "after Present beside a foreign value", present(name, foreign.Value, r.Value)) {
		return
	}
	h.cleanUp(t, p, withState(res, r)...)
	if !h.mustAwait(t, "after CleanUp", expect{fqdn: name, present: []string{foreign.Value}, absent: []string{r.Value}}) {
		return
	}
	after, ok := h.ttls(t, name, foreign.Value)
	if !ok {
		return
	}
	for ns, ttl := range before {
		if after[ns] != ttl {
			t.Errorf("after CleanUp, %s serves the foreign value at %s with TTL %d; it was %d before Present (CleanUp must restore the RRset exactly)",
				ns, name, after[ns], ttl)
		}
	}
}

// ttls asks every nameserver for the TTL it serves value with at fqdn.
func (h *harness) ttls(t *testing.T, fqdn, value string) (map[string]uint32, bool) {
	t.Helper()
	out := make(map[string]uint32, len(h.cfg.Nameservers))
	for _, ns := range h.cfg.Nameservers {
		ctx, cancel := context.WithTimeout(t.Context(), h.cfg.Timeout)
		rrs, err := queryTXTRRs(ctx, ns, fqdn)
		cancel()
		if err != nil {
			t.Errorf("asking %s for %s: %v", ns, fqdn, err)
			return nil, false
		}
		found := false
		for _, rr := range rrs {
			if rr.value == value {
				out[ns], found = rr.ttl, true
			}
		}
		if !found {
			t.Errorf("%s no longer serves %q at %s", ns, value, fqdn)
			return nil, false
		}
	}
	return out, true
}
