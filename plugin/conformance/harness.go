package conformance

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
)

// harness is the state shared by the checks of one Run: the config and a
// ledger of every record presented, so the final sweep can remove them.
type harness struct {
	cfg Config

	mu     sync.Mutex
	ledger map[[2]string]plugin.Record // (fqdn, value) → record with the latest State
	names  []string                    // Config.Names not yet taken
	kas    map[string]string           // value → key authorization, with ChallengeDetails
	idents map[string]string           // target → identifier, in a Delegated run
}

// name returns a fresh name for one check, where its records go: the
// next of Config.Names, or an absolute name below the run's prefix, set up
// by Config.Provision. In a Delegated run that is the challenge name's
// CNAME target, which zonecert would write.
func (h *harness) name(t *testing.T, label string) string {
	t.Helper()
	n := h.challengeName(t, label)
	if h.cfg.Delegated == nil {
		return n
	}
	ctx, cancel := context.WithTimeout(t.Context(), h.cfg.Timeout)
	defer cancel()
	target, err := h.follow(ctx, n)
	if err != nil {
		t.Fatalf("following the CNAME at %s: %v", n, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.idents == nil {
		h.idents = map[string]string{}
	}
	if _, dup := h.idents[target]; dup {
		t.Fatalf("%s leads to %s, as another challenge name does: each name the kit tests needs its own target", n, target)
	}
	h.idents[target] = identifierOf(n)
	return target
}

// challengeName is the next of Config.Names, or a made-up name set up by
// Config.Provision.
func (h *harness) challengeName(t *testing.T, label string) string {
	t.Helper()
	if len(h.cfg.Names) > 0 {
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.names) == 0 {
			t.Fatalf("Config.Names ran out at %q; NamesNeeded is out of date", label)
		}
		n := h.names[0]
		h.names = h.names[1:]
		return n
	}
	zone := h.cfg.Zone
	if h.cfg.Delegated != nil {
		zone = h.cfg.Delegated.Zone
	}
	n := "_acme-challenge." + label + "." + h.cfg.Prefix + "." + zone
	if h.cfg.Provision != nil {
		ctx, cancel := context.WithTimeout(t.Context(), h.cfg.Timeout)
		defer cancel()
		if err := h.cfg.Provision(ctx, n); err != nil {
			t.Fatalf("provisioning %s: %v", n, err)
		}
	}
	return n
}

// identifierOf is the domain a challenge name validates, as zonecert sends
// it in Record.Identifier: without _acme-challenge and the final dot.
func identifierOf(challengeName string) string {
	return strings.TrimSuffix(strings.TrimPrefix(challengeName, "_acme-challenge."), ".")
}

// caps are the limits under test.
func (h *harness) caps() plugin.Capabilities { return h.cfg.Capabilities }

// cleaned is what a name looks like after CleanUp of values: gone, or,
// from a provider that cannot delete, still there (and one that deletes
// while declaring it cannot is caught).
func (h *harness) cleaned(fqdn string, values ...string) expect {
	if h.caps().NoDelete {
		return expect{fqdn: fqdn, present: values, leftInPlace: true}
	}
	return expect{fqdn: fqdn, absent: values}
}

// cleanedKeeping is cleaned for some values at a name while others stay.
func (h *harness) cleanedKeeping(fqdn string, cleaned, kept []string) expect {
	e := h.cleaned(fqdn, cleaned...)
	e.present = append(e.present, kept...)
	return e
}

// needValues skips a check that puts n values at one name when the
// provider keeps fewer.
func (h *harness) needValues(t *testing.T, n int) {
	t.Helper()
	if m := h.caps().MaxValuesPerName; m > 0 && m < n {
		t.Skipf("needs %d values at one name; the provider declares MaxValuesPerName %d", n, m)
	}
}

// value returns a fresh value shaped like a DNS-01 key authorization
// digest (43 base64url characters, RFC 8555 §8.4).
// For a provider declaring ChallengeDetails it is the digest of a made-up
// key authorization, as the provider derives the value from it.
func (h *harness) value() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	if !h.caps().ChallengeDetails {
		return v
	}
	ka := v + ".zonecert-conformance-thumbprint"
	sum := sha256.Sum256([]byte(ka))
	v = base64.RawURLEncoding.EncodeToString(sum[:])
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.kas == nil {
		h.kas = map[string]string{}
	}
	h.kas[v] = ka
	return v
}

func (h *harness) rec(id, fqdn, value string) plugin.Record {
	return h.withDetails(plugin.Record{ID: id, FQDN: fqdn, Zone: h.cfg.Zone, Value: value, TTL: h.cfg.TTL})
}

// withDetails adds the ACME details the host would send a provider that
// declares ChallengeDetails: the identifier below _acme-challenge, the
// token and key authorization behind the value.
func (h *harness) withDetails(r plugin.Record) plugin.Record {
	if !h.caps().ChallengeDetails {
		return r
	}
	h.mu.Lock()
	ka, ok := h.kas[r.Value]
	id, delegated := h.idents[r.FQDN]
	h.mu.Unlock()
	if ok {
		r.Identifier = identifierOf(r.FQDN)
		if delegated {
			r.Identifier = id // the user's domain, not the CNAME's target
		}
		r.KeyAuthorization = ka
		r.Token, _, _ = strings.Cut(ka, ".")
	}
	return r
}

// wildcard makes r the challenge of the wildcard of its domain, which
// shares its base domain's name: zonecert sends the identifier with "*.".
func (h *harness) wildcard(r plugin.Record) plugin.Record {
	if r.Identifier != "" {
		r.Identifier = "*." + r.Identifier
	}
	return r
}

// open starts a fresh instance closed when t ends.
func (h *harness) open(t *testing.T) plugin.Provider {
	t.Helper()
	p, _ := h.openClosable(t)
	return p
}

// openClosable starts a fresh instance and also returns a function that
// closes it early (idempotent; it is closed when t ends otherwise).
func (h *harness) openClosable(t *testing.T) (plugin.Provider, func()) {
	t.Helper()
	// The instance lives for the whole test, so it gets the test's context
	// rather than one cancelled when Open returns.
	p, c, err := h.cfg.Target.Open(t.Context())
	if err != nil {
		t.Fatalf("opening %s: %v", h.cfg.Target.Name, err)
	}
	if r, ok := p.(plugin.CapabilityReporter); ok {
		if got, want := limits(r.Capabilities()), limits(h.caps()); got != want {
			_ = c.Close()
			t.Fatalf("%s declares %s, but Config.Capabilities says %s", h.cfg.Target.Name, got, want)
		}
	}
	var once sync.Once
	closeFn := func() {
		once.Do(func() {
			if err := c.Close(); err != nil {
				t.Errorf("closing %s: %v", h.cfg.Target.Name, err)
			}
		})
	}
	t.Cleanup(closeFn)
	return p, closeFn
}

// limits describes the declared limits, for messages and comparison.
func limits(c plugin.Capabilities) string {
	return fmt.Sprintf("no-delete=%t max-values-per-name=%d provisioned-names=%t", c.NoDelete, c.MaxValuesPerName, c.ProvisionedNames)
}

type callFunc func(context.Context, []plugin.Record) ([]plugin.Result, error)

// call runs one Present or CleanUp under the kit's timeout and checks that
// the results match the records' IDs one to one.
func (h *harness) call(ctx context.Context, fn callFunc, recs []plugin.Record) (map[string]plugin.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	res, err := fn(ctx, recs)
	if err != nil {
		return nil, err
	}
	return matchResults(recs, res)
}

// errResults is a mismatch between records and results: a broken contract,
// not a provider error.
type errResults struct{ msg string }

func (e *errResults) Error() string { return "results do not match record IDs: " + e.msg }

func matchResults(recs []plugin.Record, res []plugin.Result) (map[string]plugin.Result, error) {
	want := make(map[string]bool, len(recs))
	for _, r := range recs {
		want[r.ID] = true
	}
	got := make(map[string]plugin.Result, len(res))
	for _, r := range res {
		if !want[r.ID] {
			return nil, &errResults{fmt.Sprintf("result for unknown ID %q", r.ID)}
		}
		if _, dup := got[r.ID]; dup {
			return nil, &errResults{fmt.Sprintf("two results for ID %q", r.ID)}
		}
		got[r.ID] = r
	}
	for _, r := range recs {
		if _, ok := got[r.ID]; !ok {
			return nil, &errResults{fmt.Sprintf("no result for ID %q (%d results for %d records)", r.ID, len(res), len(recs))}
		}
	}
	return got, nil
}

// present calls Present and reports any failure (call error, mismatched
// results, per-record error) on t without stopping it, so it is safe from
// any goroutine. The records go to the ledger first, so even a failed or
// half-done call is swept.
func (h *harness) present(t *testing.T, p plugin.Provider, recs ...plugin.Record) (map[string]plugin.Result, bool) {
	t.Helper()
	h.remember(recs, nil)
	res, err := h.call(t.Context(), p.Present, recs)
	if err != nil {
		t.Errorf("Present(%s): %v", describe(recs), err)
		return nil, false
	}
	h.remember(recs, res)
	return res, recordErrors(t, "Present", recs, res)
}

// mustPresent is present that stops the test on failure (test goroutine only).
func (h *harness) mustPresent(t *testing.T, p plugin.Provider, recs ...plugin.Record) map[string]plugin.Result {
	t.Helper()
	res, ok := h.present(t, p, recs...)
	if !ok {
		t.FailNow()
	}
	return res
}

// cleanUp calls CleanUp and reports any failure on t without stopping it.
func (h *harness) cleanUp(t *testing.T, p plugin.Provider, recs ...plugin.Record) bool {
	t.Helper()
	res, err := h.call(t.Context(), p.CleanUp, recs)
	if err != nil {
		t.Errorf("CleanUp(%s): %v", describe(recs), err)
		return false
	}
	return recordErrors(t, "CleanUp", recs, res)
}

func recordErrors(t *testing.T, op string, recs []plugin.Record, res map[string]plugin.Result) bool {
	t.Helper()
	ok := true
	for _, r := range recs {
		if e := res[r.ID].Err; e != nil {
			t.Errorf("%s: record %s (%s %q): %v", op, r.ID, r.FQDN, r.Value, e)
			ok = false
		}
	}
	return ok
}

// withState returns recs with the State Present returned for each.
func withState(res map[string]plugin.Result, recs ...plugin.Record) []plugin.Record {
	out := make([]plugin.Record, len(recs))
	for i, r := range recs {
		r.State = res[r.ID].State
		out[i] = r
	}
	return out
}

// remember records recs in the ledger, with their States when res is set.
func (h *harness) remember(recs []plugin.Record, res map[string]plugin.Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ledger == nil {
		h.ledger = make(map[[2]string]plugin.Record)
	}
	for _, r := range recs {
		if !dns.IsSubDomain(h.cfg.Zone, r.FQDN) || r.Zone != h.cfg.Zone {
			continue // never created in the zone under test; nothing to sweep there
		}
		k := [2]string{r.FQDN, r.Value}
		old, seen := h.ledger[k]
		if res != nil {
			if st := res[r.ID].State; len(st) > 0 {
				r.State = st
			} else if seen {
				r.State = old.State
			}
		} else if seen {
			continue
		}
		h.ledger[k] = r
	}
}

func describe(recs []plugin.Record) string {
	if len(recs) == 1 {
		return recs[0].FQDN
	}
	return strconv.Itoa(len(recs)) + " records"
}
