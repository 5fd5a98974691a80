package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin"
)

// check is one semantic of plugin.Provider, run as a subtest.
type check struct {
	name string
	run  func(t *testing.T, h *harness)
	// names is how many names the check writes, plus two per concurrent
	// worker if perWorker (NamesNeeded adds them up).
	names     int
	perWorker bool
}

// checks lists every check in the order they are reported.
func checks() []check {
	return []check{
		{name: "visible-after-present", run: checkVisible, names: 1},
		{name: "two-values-coexist", run: checkTwoValues, names: 1},
		{name: "cleanup-exact-value", run: checkExactCleanUp, names: 1},
		{name: "present-idempotent", run: checkIdempotent, names: 1},
		{name: "cleanup-absent-value", run: checkCleanUpAbsent, names: 1},
		{name: "concurrent-batches", run: checkConcurrent, perWorker: true},
		{name: "cleanup-from-fresh-instance", run: checkFreshInstance, names: 2},
		{name: "cleanup-without-state", run: checkWithoutState, names: 1},
		{name: "multi-name-batch", run: checkMultiName, names: 4},
		{name: "foreign-rrset-restored", run: checkForeignRestored, names: 1},
		{name: "deadline-honoured", run: checkDeadline, names: 1},
		{name: "result-ids", run: checkResultIDs, names: 2},
		{name: "unknown-zone", run: checkUnknownZone},
		{name: "outside-zone", run: checkOutsideZone},
	}
}

func present(fqdn string, values ...string) expect { return expect{fqdn: fqdn, present: values} }
func absent(fqdn string, values ...string) expect  { return expect{fqdn: fqdn, absent: values} }

// checkVisible: after Present, every nameserver serves the value; after
// CleanUp, none does (or, with NoDelete, every one still does).
func checkVisible(t *testing.T, h *harness) {
	p := h.open(t)
	r := h.rec("1", h.name(t, "visible"), h.value())
	res := h.mustPresent(t, p, r)
	if !h.mustAwait(t, "after Present", present(r.FQDN, r.Value)) {
		return
	}
	h.cleanUp(t, p, withState(res, r)...)
	h.mustAwait(t, "after CleanUp", h.cleaned(r.FQDN, r.Value))
}

// checkTwoValues: Present appends. A value presented in one call survives
// two more presented at the same name in a later call (wildcard plus apex,
// and a second order for the same name). A provider that keeps at most N
// values per name must keep N: one value, then N-1 more.
func checkTwoValues(t *testing.T, h *harness) {
	h.needValues(t, 2)
	p := h.open(t)
	name := h.name(t, "two-values")
	a := h.rec("a", name, h.value())
	more := []plugin.Record{h.rec("b", name, h.value()), h.rec("c", name, h.value())}
	if m := h.caps().MaxValuesPerName; m == 2 {
		more = more[:1]
	}
	resA := h.mustPresent(t, p, a)
	resMore := h.mustPresent(t, p, more...)
	values := []string{a.Value}
	for _, r := range more {
		values = append(values, r.Value)
	}
	h.mustAwait(t, fmt.Sprintf("after presenting one value, then %d more at the same name", len(more)),
		present(name, values...))
	h.cleanUp(t, p, append(withState(resA, a), withState(resMore, more...)...)...)
	h.mustAwait(t, "after CleanUp", h.cleaned(name, values...))
}

// checkExactCleanUp: CleanUp removes exactly the value given; the other
// value at the same name stays.
func checkExactCleanUp(t *testing.T, h *harness) {
	h.needValues(t, 2)
	p := h.open(t)
	name := h.name(t, "exact")
	a := h.rec("a", name, h.value())
	b := h.rec("b", name, h.value())
	resA := h.mustPresent(t, p, a)
	resB := h.mustPresent(t, p, b)
	if !h.mustAwait(t, "after Present", present(name, a.Value, b.Value)) {
		return
	}
	h.cleanUp(t, p, withState(resA, a)...)
	h.mustAwait(t, "after cleaning up one of two values", h.cleanedKeeping(name, []string{a.Value}, []string{b.Value}))
	h.cleanUp(t, p, withState(resB, b)...)
	h.mustAwait(t, "after cleaning up the other", h.cleaned(name, a.Value, b.Value))
}

// checkIdempotent: presenting the same value twice leaves one copy, which
// one CleanUp (with the State of the later Present, the one a host
// journals) removes; cleaning up with the earlier State then still succeeds.
// A provider that cannot delete cannot drop the second copy either, so
// there the value need only be served.
func checkIdempotent(t *testing.T, h *harness) {
	p := h.open(t)
	name := h.name(t, "idempotent")
	value := h.value()
	r1 := h.rec("1", name, value)
	r2 := h.rec("2", name, value)
	res1 := h.mustPresent(t, p, r1)
	res2 := h.mustPresent(t, p, r2)
	h.mustAwait(t, "after presenting one value twice",
		expect{fqdn: name, present: []string{value}, once: !h.caps().NoDelete})
	h.cleanUp(t, p, withState(res2, r2)...)
	h.mustAwait(t, "after one CleanUp of a value presented twice", h.cleaned(name, value))
	h.cleanUp(t, p, withState(res1, r1)...)
}

// checkCleanUpAbsent: CleanUp of a value that was never presented, or was
// already cleaned up, succeeds.
func checkCleanUpAbsent(t *testing.T, h *harness) {
	p := h.open(t)
	name := h.name(t, "absent")
	never := h.rec("never", name, h.value())
	h.cleanUp(t, p, never)
	r := h.rec("1", name, h.value())
	res := h.mustPresent(t, p, r)
	if !h.mustAwait(t, "after Present", present(name, r.Value)) {
		return
	}
	h.cleanUp(t, p, withState(res, r)...)
	h.mustAwait(t, "after CleanUp", h.cleaned(name, r.Value))
	h.cleanUp(t, p, withState(res, r)...) // second time: already gone
}

// checkConcurrent: several goroutines call one instance at once, each with
// a batch at its own names; everything lands and everything is removed.
func checkConcurrent(t *testing.T, h *harness) {
	p := h.open(t)
	n := h.cfg.Concurrency
	batches := make([][]plugin.Record, n)
	var exps, gone []expect
	for i := range n {
		for j, label := range []string{"a", "b"} {
			r := h.rec(fmt.Sprintf("%d-%d", i, j), h.name(t, fmt.Sprintf("concurrent-%d%s", i, label)), h.value())
			batches[i] = append(batches[i], r)
			exps = append(exps, present(r.FQDN, r.Value))
			gone = append(gone, h.cleaned(r.FQDN, r.Value))
		}
	}
	parallel(n, func(i int) {
		if res, ok := h.present(t, p, batches[i]...); ok {
			batches[i] = withState(res, batches[i]...)
		}
	})
	if t.Failed() {
		return
	}
	if !h.mustAwait(t, fmt.Sprintf("after %d concurrent Present calls", n), exps...) {
		return
	}
	parallel(n, func(i int) { h.cleanUp(t, p, batches[i]...) })
	h.mustAwait(t, fmt.Sprintf("after %d concurrent CleanUp calls", n), gone...)
}

// parallel runs f(0..n-1) at once and waits for all.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

// checkFreshInstance: records presented by one instance are removed by a
// fresh one (a new process for binaries) given only the persisted State.
func checkFreshInstance(t *testing.T, h *harness) {
	h.needValues(t, 2)
	p1, close1 := h.openClosable(t)
	n1, n2 := h.name(t, "fresh-1"), h.name(t, "fresh-2")
	recs := []plugin.Record{
		h.rec("a", n1, h.value()), h.rec("b", n1, h.value()), h.rec("c", n2, h.value()),
	}
	res := h.mustPresent(t, p1, recs...)
	close1()
	if !h.mustAwait(t, "after Present", present(n1, recs[0].Value, recs[1].Value), present(n2, recs[2].Value)) {
		return
	}
	p2 := h.open(t)
	h.cleanUp(t, p2, withState(res, recs...)...)
	h.mustAwait(t, "after CleanUp by a fresh instance",
		h.cleaned(n1, recs[0].Value, recs[1].Value), h.cleaned(n2, recs[2].Value))
}

// checkWithoutState: State may be empty when Present's result was lost (the
// host crashed mid-call), so a fresh instance must clean up by name and
// value alone, still removing exactly that value.
func checkWithoutState(t *testing.T, h *harness) {
	h.needValues(t, 2)
	p1, close1 := h.openClosable(t)
	name := h.name(t, "stateless")
	a := h.rec("a", name, h.value())
	b := h.rec("b", name, h.value())
	h.mustPresent(t, p1, a, b)
	close1()
	if !h.mustAwait(t, "after Present", present(name, a.Value, b.Value)) {
		return
	}
	p2 := h.open(t)
	h.cleanUp(t, p2, a)
	h.mustAwait(t, "after CleanUp without State of one of two values",
		h.cleanedKeeping(name, []string{a.Value}, []string{b.Value}))
	h.cleanUp(t, p2, b)
	h.mustAwait(t, "after CleanUp without State of the other", h.cleaned(name, a.Value, b.Value))
}

// checkMultiName: one call spans several names, two values at one of them
// (a wildcard's and its base domain's, as zonecert sends them).
func checkMultiName(t *testing.T, h *harness) {
	h.needValues(t, 2)
	p := h.open(t)
	names := []string{h.name(t, "multi-1"), h.name(t, "multi-2"), h.name(t, "multi-3"), h.name(t, "multi-4")}
	recs := []plugin.Record{h.wildcard(h.rec("wild", names[0], h.value()))}
	for i, n := range names {
		recs = append(recs, h.rec(fmt.Sprint(i), n, h.value()))
	}
	res := h.mustPresent(t, p, recs...)
	var exps, gone []expect
	for _, r := range recs {
		exps = append(exps, present(r.FQDN, r.Value))
		gone = append(gone, h.cleaned(r.FQDN, r.Value))
	}
	if !h.mustAwait(t, "after one Present across names", exps...) {
		return
	}
	h.cleanUp(t, p, withState(res, recs...)...)
	h.mustAwait(t, "after one CleanUp across names", gone...)
}

// checkDeadline: a call whose context has already expired or been
// cancelled returns promptly with an error (a call error, or an error for
// every record).
func checkDeadline(t *testing.T, h *harness) {
	p := h.open(t)
	r := h.rec("1", h.name(t, "deadline"), h.value())
	h.remember([]plugin.Record{r}, nil) // if it lands anyway, sweep it
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	expectCallFails(t, h, "Present with an expired deadline", func() ([]plugin.Result, error) {
		return p.Present(expired, []plugin.Record{r})
	})
	cancelled, cancel2 := context.WithCancel(t.Context())
	cancel2()
	expectCallFails(t, h, "CleanUp with a cancelled context", func() ([]plugin.Result, error) {
		return p.CleanUp(cancelled, []plugin.Record{r})
	})
}

// promptly bounds how long a call with a dead context may take.
const promptly = 5 * time.Second

func expectCallFails(t *testing.T, h *harness, what string, call func() ([]plugin.Result, error)) {
	t.Helper()
	type outcome struct {
		res []plugin.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := call()
		done <- outcome{res, err}
	}()
	timer := time.NewTimer(min(promptly, h.cfg.Timeout))
	defer timer.Stop()
	select {
	case <-timer.C:
		t.Errorf("%s: no return within %s", what, min(promptly, h.cfg.Timeout))
	case o := <-done:
		if o.err != nil {
			return
		}
		for _, r := range o.res {
			if r.Err == nil {
				t.Errorf("%s: succeeded for record %q; want an error", what, r.ID)
				return
			}
		}
		if len(o.res) == 0 {
			t.Errorf("%s: no error and no results", what)
		}
	}
}

// checkResultIDs: results are matched by ID, not position; IDs that are not
// sequential and a batch in no particular order must still map one to one
// (the check every call makes, here with awkward IDs).
func checkResultIDs(t *testing.T, h *harness) {
	h.needValues(t, 2)
	p := h.open(t)
	n1, n2 := h.name(t, "ids-1"), h.name(t, "ids-2")
	recs := []plugin.Record{
		h.rec("zeta", n2, h.value()), h.rec("0", n1, h.value()), h.rec("alpha-7/x", n1, h.value()),
	}
	res := h.mustPresent(t, p, recs...)
	if !h.mustAwait(t, "after Present", present(n1, recs[1].Value, recs[2].Value), present(n2, recs[0].Value)) {
		return
	}
	clean := withState(res, recs...)
	clean[0], clean[2] = clean[2], clean[0]
	h.cleanUp(t, p, clean...)
	h.mustAwait(t, "after CleanUp", h.cleaned(n1, recs[1].Value, recs[2].Value), h.cleaned(n2, recs[0].Value))
}

// checkUnknownZone: a zone the provider does not host gives a per-record
// CodeZoneNotFound error or a call error, never success.
func checkUnknownZone(t *testing.T, h *harness) {
	zone := h.cfg.Prefix + ".zonecert-conformance.invalid."
	r := h.withDetails(plugin.Record{ID: "1", FQDN: "_acme-challenge." + zone, Zone: zone, Value: h.value(), TTL: h.cfg.TTL})
	expectZoneNotFound(t, h, "a zone the provider does not host", r)
}

// checkOutsideZone: a name outside its record's zone (which the host never
// sends) is refused with CodeZoneNotFound or a call error, rather than
// written somewhere unexpected.
func checkOutsideZone(t *testing.T, h *harness) {
	r := h.rec("1", "_acme-challenge."+h.cfg.Prefix+".zonecert-conformance.invalid.", h.value())
	expectZoneNotFound(t, h, "a name outside the record's zone", r)
}

func expectZoneNotFound(t *testing.T, h *harness, what string, r plugin.Record) {
	t.Helper()
	p := h.open(t)
	res, err := h.call(t.Context(), p.Present, []plugin.Record{r})
	var mismatch *errResults
	switch {
	case errors.As(err, &mismatch):
		t.Errorf("Present of %s: %v", what, err)
	case err != nil:
		t.Logf("Present of %s: call error (accepted): %v", what, err)
	case res[r.ID].Err == nil:
		t.Errorf("Present of %s (%s in %s) succeeded; want a %s error", what, r.FQDN, r.Zone, plugin.CodeZoneNotFound)
		h.cleanUp(t, p, withState(res, r)...) // undo whatever it did
	case res[r.ID].Err.Code != plugin.CodeZoneNotFound:
		t.Errorf("Present of %s: error %v; want code %s", what, res[r.ID].Err, plugin.CodeZoneNotFound)
	}
}
