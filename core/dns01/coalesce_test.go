package dns01_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

// countingProvider counts the calls that reach the plugin process.
type countingProvider struct {
	plugin.Provider
	present, cleanup atomic.Int32
	sizes            chan int
}

func (c *countingProvider) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	c.present.Add(1)
	if c.sizes != nil {
		c.sizes <- len(recs)
	}
	return c.Provider.Present(ctx, recs)
}

func (c *countingProvider) Capabilities() plugin.Capabilities {
	return plugin.CapabilitiesOf(c.Provider)
}

func (c *countingProvider) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	c.cleanup.Add(1)
	return c.Provider.CleanUp(ctx, recs)
}

// startTestPlugin runs plugin/internal/testplugin as a real process
// keeping its records under a directory.
func startTestPlugin(t *testing.T) (*host.Client, string) {
	t.Helper()
	bin := testenv.PluginBinary(t, "testplug", "github.com/zonecert/zonecert/plugin/internal/testplugin")
	dir := t.TempDir()
	c, err := host.Start(t.Context(), host.Config{Name: "testplug", Path: bin, Restarts: 3,
		Settings: map[string]string{"dir": dir}, LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, dir
}

// order is one caller's records: n records in zone, with value v.
func order(i, n int, zone, v string) []plugin.Record {
	var out []plugin.Record
	for j := range n {
		out = append(out, plugin.Record{ID: fmt.Sprintf("o%d-%d", i, j), FQDN: fmt.Sprintf("_acme-challenge.c%d-%d.%s", i, j, zone),
			Zone: zone, Value: v, TTL: 60})
	}
	return out
}

// concurrently runs fn(i) for i in [0, n) at once and collects errors.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errs
}

// Twenty orders presenting in one zone at once make one Present call, and
// their cleanups one CleanUp call; each order gets its own results.
func TestCoalescerJoinsOrdersOfOneZone(t *testing.T) {
	t.Parallel()
	c, dir := startTestPlugin(t)
	cp := &countingProvider{Provider: c}
	co := dns01.NewCoalescer(cp, dns01.CoalescerConfig{Window: 200 * time.Millisecond})
	if co.Capabilities() != plugin.CapabilitiesOf(c) {
		t.Errorf("capabilities %+v, want the plugin's %+v", co.Capabilities(), plugin.CapabilitiesOf(c))
	}
	ctx := t.Context()
	errs := concurrently(20, func(i int) error {
		recs := order(i, 2, "example.test.", fmt.Sprintf("v%d", i))
		res, err := co.Present(ctx, recs)
		if err != nil {
			return err
		}
		if len(res) != 2 || res[0].ID != recs[0].ID || res[1].ID != recs[1].ID || res[0].Err != nil || len(res[0].State) == 0 {
			return fmt.Errorf("order %d: results %+v", i, res)
		}
		if _, err := os.Stat(string(res[0].State)); err != nil {
			return fmt.Errorf("order %d: record not stored: %w", i, err)
		}
		for j := range recs {
			recs[j].State = res[j].State
		}
		res, err = co.CleanUp(ctx, recs)
		if err != nil || len(res) != 2 || res[0].Err != nil {
			return fmt.Errorf("order %d: cleanup %+v %v", i, res, err)
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if p, cl := cp.present.Load(), cp.cleanup.Load(); p != 1 || cl != 1 {
		t.Errorf("%d Present and %d CleanUp calls reached the plugin, want 1 each", p, cl)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	if len(left) != 0 {
		t.Errorf("records left: %v", left)
	}
}

// A record the provider refuses fails only the order that holds it, even
// when the provider fails the whole joined call for it: the orders of that
// call are sent again one by one.
func TestCoalescerFailureStaysWithItsOrder(t *testing.T) {
	t.Parallel()
	c, _ := startTestPlugin(t)
	cp := &countingProvider{Provider: c}
	co := dns01.NewCoalescer(cp, dns01.CoalescerConfig{Window: 200 * time.Millisecond})
	errs := concurrently(5, func(i int) error {
		v := "fine"
		if i == 2 {
			v = "callfail" // the whole call fails with a non-retryable auth error
		}
		res, err := co.Present(t.Context(), order(i, 1, fmt.Sprintf("z%d.test.", i%2), v))
		if err != nil {
			return err
		}
		if res[0].Err != nil {
			return res[0].Err
		}
		return nil
	})
	for i, err := range errs {
		// Orders 0 and 4 share zone z0.test. with order 2: one call, which
		// fails as a whole; sent alone, only order 2's fails.
		want := i == 2
		if (err != nil) != want {
			t.Errorf("order %d: err = %v, want failure %v", i, err, want)
		}
	}
	if p := cp.present.Load(); p != 5 {
		t.Errorf("%d Present calls, want 5: one per zone, and the 3 orders of the failed one alone", p)
	}
}

// unreachable fails every call with an error that is not the provider's
// answer (a timeout reaching the plugin), counting the calls.
type unreachable struct{ calls atomic.Int32 }

func (u *unreachable) Present(context.Context, []plugin.Record) ([]plugin.Result, error) {
	u.calls.Add(1)
	return nil, context.DeadlineExceeded
}

func (u *unreachable) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	return u.Present(ctx, recs)
}

// A joined call that fails without the provider's answer (the plugin timed
// out) fails its orders together: sending each alone would only wait out
// the same timeout again, once per order.
func TestCoalescerUnreachableNotSplit(t *testing.T) {
	t.Parallel()
	u := &unreachable{}
	co := dns01.NewCoalescer(u, dns01.CoalescerConfig{Window: 200 * time.Millisecond})
	errs := concurrently(4, func(i int) error {
		_, err := co.Present(t.Context(), order(i, 1, "example.test.", "v"))
		return err
	})
	for i, err := range errs {
		if err == nil {
			t.Errorf("order %d succeeded", i)
		}
	}
	if n := u.calls.Load(); n != 1 {
		t.Errorf("%d Present calls, want 1", n)
	}
}

// A plugin that dies in the middle of a batch is restarted and the batch
// sent again: every order of it completes.
func TestCoalescerPluginCrashMidBatch(t *testing.T) {
	t.Parallel()
	c, _ := startTestPlugin(t)
	cp := &countingProvider{Provider: c}
	co := dns01.NewCoalescer(cp, dns01.CoalescerConfig{Window: 200 * time.Millisecond, Backoff: 10 * time.Millisecond})
	errs := concurrently(10, func(i int) error {
		v := fmt.Sprintf("v%d", i)
		if i == 7 {
			v = "crashonce"
		}
		res, err := co.Present(t.Context(), order(i, 1, "example.test.", v))
		if err != nil {
			return err
		}
		return errOf(res[0].Err)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("order %d: %v", i, err)
		}
	}
	if n := c.Restarted(); n != 1 {
		t.Errorf("plugin restarted %d times, want 1", n)
	}
	if p := cp.present.Load(); p != 2 {
		t.Errorf("%d Present calls, want 2 (the crashed one and its retry)", p)
	}
}

// A provider answering "rate limited, retry after 1s" (a real plugin
// process, so RetryAfter crosses the wire) pauses the instance that long,
// not just its own short backoff, and its records are sent again: no order
// fails.
func TestCoalescerBacksOffOnRateLimit(t *testing.T) {
	t.Parallel()
	c, _ := startTestPlugin(t)
	cp := &countingProvider{Provider: c}
	var retried, tooSoon atomic.Int32
	co := dns01.NewCoalescer(cp, dns01.CoalescerConfig{Window: 20 * time.Millisecond, Backoff: 50 * time.Millisecond,
		Hooks: dns01.CoalescerHooks{
			Retry: func(op string, code plugin.Code, n int, pause time.Duration) {
				// The plugin asks for what is left of its second, less the
				// time since it admitted a call: well over 50 ms.
				if code == plugin.CodeRateLimited && pause >= 500*time.Millisecond {
					retried.Add(int32(n))
				} else {
					tooSoon.Add(1)
				}
			},
		}})
	// Three zones: three calls at once, two of them refused at first.
	errs := concurrently(3, func(i int) error {
		res, err := co.Present(t.Context(), order(i, 1, fmt.Sprintf("z%d.test.", i), "throttle"))
		if err != nil {
			return err
		}
		return errOf(res[0].Err)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("order %d failed: %v", i, err)
		}
	}
	if retried.Load() < 2 || tooSoon.Load() > 0 {
		t.Errorf("%d records retried after the pause the provider asked for, %d retries sooner; want at least 2 and none",
			retried.Load(), tooSoon.Load())
	}
}

func errOf(e *plugin.Error) error {
	if e == nil {
		return nil
	}
	return e
}

// Records arriving as fast as batches close (a window of 1 ms) are all
// served: a batch's timer firing while a record arrives must not lose the
// batch (it once did, stalling a storm).
func TestCoalescerManyQuickBatches(t *testing.T) {
	t.Parallel()
	c, _ := startTestPlugin(t)
	co := dns01.NewCoalescer(c, dns01.CoalescerConfig{Window: time.Millisecond, MaxCalls: 8})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	errs := concurrently(300, func(i int) error {
		for round := range 5 {
			res, err := co.Present(ctx, order(i*10+round, 1, fmt.Sprintf("z%d.test.", i%3), "v"))
			if err != nil {
				return fmt.Errorf("order %d round %d: %w", i, round, err)
			}
			if err := errOf(res[0].Err); err != nil {
				return err
			}
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
