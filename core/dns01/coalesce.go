package dns01

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/zonecert/zonecert/plugin"
)

// Defaults for zero CoalescerConfig fields.
const (
	DefaultCoalesceWindow = 50 * time.Millisecond
	DefaultMaxCalls       = 4
	DefaultCallRetries    = 6
	DefaultRetryBackoff   = time.Second
	maxRetryBackoff       = 30 * time.Second
	maxProviderRetryAfter = 5 * time.Minute
)

// CoalescerConfig tunes a [Coalescer]. Zero values take the defaults.
type CoalescerConfig struct {
	// Window is how long a zone's batch stays open after its latest
	// record arrived; it is sent at the latest 4·Window after its first.
	Window time.Duration
	// MaxCalls bounds the provider calls in flight.
	MaxCalls int
	// Rate bounds provider calls per second (a token bucket of Burst);
	// zero means no bound.
	Rate  float64
	Burst int
	// Retries bounds the attempts after a retryable failure of a record
	// or a call (a crashed plugin, CodeRateLimited, Retryable errors).
	Retries int
	// Backoff is the first pause after a retryable failure, doubled for
	// each failure in a row up to 30 s; a longer RetryAfter the provider
	// sends (plugin.Error) wins, up to 5 minutes. The whole instance
	// pauses: a throttled API is throttled for every order.
	Backoff time.Duration
	// Hooks observe the coalescer (metrics); nil fields are skipped.
	Hooks CoalescerHooks
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// CoalescerHooks are called synchronously; they must be quick.
type CoalescerHooks struct {
	// Call reports one provider call: op is "present" or "cleanup".
	Call func(op string, records, orders int)
	// Retry reports records sent again after a retryable failure, and
	// the pause before it.
	Retry func(op string, code plugin.Code, records int, pause time.Duration)
	// Waited reports time a call waited for the limits (calls in flight,
	// rate, backoff).
	Waited func(d time.Duration)
}

// Coalescer is a plugin.Provider in front of one provider instance that
// joins the records of concurrent callers (orders) for the same zone into
// one Present call, and likewise for CleanUp. Each caller gets the results
// of its own records only, so a record's failure fails only the order
// that needs it: a caller the provider refused in a joined call (the whole
// call, or one of its records) has its records sent again in a call of
// their own, so one order's bad record never fails the others. It bounds
// the calls in flight and their rate, and backs off and retries on
// failures the provider marks retryable.
//
// Callers keep the journal rule: they journal records before calling
// Present, and a record's State comes back in its own Result.
type Coalescer struct {
	p     plugin.Provider
	cfg   CoalescerConfig
	now   func() time.Time
	calls chan struct{}

	mu      sync.Mutex
	open    map[batchKey]*pendingBatch
	tokens  float64
	refill  time.Time
	paused  time.Time // no call before this (backoff)
	strikes int       // retryable failures in a row
}

var (
	_ plugin.Provider           = (*Coalescer)(nil)
	_ plugin.Syncer             = (*Coalescer)(nil)
	_ plugin.CapabilityReporter = (*Coalescer)(nil)
)

type batchKey struct{ op, zone string }

// pendingBatch collects the requests of one zone and operation.
type pendingBatch struct {
	reqs  []*coalesceReq
	first time.Time
	kick  chan struct{} // a new request arrived
}

type coalesceReq struct {
	recs []plugin.Record
	done chan struct{}
	res  []plugin.Result
	err  error
	sent bool // handed to a call; the caller waits for its end
}

// NewCoalescer puts a coalescer in front of p.
func NewCoalescer(p plugin.Provider, cfg CoalescerConfig) *Coalescer {
	if cfg.Window <= 0 {
		cfg.Window = DefaultCoalesceWindow
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = DefaultMaxCalls
	}
	if cfg.Retries <= 0 {
		cfg.Retries = DefaultCallRetries
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultRetryBackoff
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Coalescer{p: p, cfg: cfg, now: cfg.Now, calls: make(chan struct{}, cfg.MaxCalls),
		open: map[batchKey]*pendingBatch{}, tokens: float64(cfg.Burst)}
}

// Present implements plugin.Provider.
func (c *Coalescer) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	return c.submit(ctx, "present", recs)
}

// CleanUp implements plugin.Provider.
func (c *Coalescer) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	return c.submit(ctx, "cleanup", recs)
}

// Capabilities are the provider's: coalescing changes how many calls
// carry the records, not what the provider can do with them.
func (c *Coalescer) Capabilities() plugin.Capabilities { return plugin.CapabilitiesOf(c.p) }

// WaitForSync passes through to the provider when it is a Syncer.
func (c *Coalescer) WaitForSync(ctx context.Context, recs []plugin.Record) error {
	if s, ok := c.p.(plugin.Syncer); ok {
		return s.WaitForSync(ctx, recs)
	}
	return nil
}

// submit queues recs (one zone each, usually all the same) and waits for
// their results. A caller whose ctx ends while its records are still
// queued withdraws them; once sent, it waits for the call to end, so a
// later CleanUp never overtakes its Present.
func (c *Coalescer) submit(ctx context.Context, op string, recs []plugin.Record) ([]plugin.Result, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	byZone := map[string][]plugin.Record{}
	for _, r := range recs {
		byZone[r.Zone] = append(byZone[r.Zone], r)
	}
	reqs := make([]*coalesceReq, 0, len(byZone))
	for zone, part := range byZone {
		r := &coalesceReq{recs: part, done: make(chan struct{})}
		c.enqueue(op, zone, r)
		reqs = append(reqs, r)
	}
	var out []plugin.Result
	for _, r := range reqs {
		select {
		case <-r.done:
		case <-ctx.Done():
			if c.withdraw(op, r) {
				return nil, ctx.Err()
			}
			<-r.done
		}
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, r.res...)
	}
	return out, nil
}

func (c *Coalescer) enqueue(op, zone string, r *coalesceReq) {
	k := batchKey{op, zone}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.open[k]
	if b == nil {
		b = &pendingBatch{first: c.now(), kick: make(chan struct{}, 1)}
		c.open[k] = b
		go c.linger(k, b)
	}
	b.reqs = append(b.reqs, r)
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// withdraw takes a queued request back; false means it was already sent.
func (c *Coalescer) withdraw(op string, r *coalesceReq) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.sent {
		return false
	}
	k := batchKey{op, r.recs[0].Zone}
	if b := c.open[k]; b != nil {
		b.reqs = slices.DeleteFunc(b.reqs, func(x *coalesceReq) bool { return x == r })
	}
	return true
}

// linger waits until the batch has been quiet for Window (or is 4·Window
// old), closes it and sends it.
func (c *Coalescer) linger(k batchKey, b *pendingBatch) {
	limit := 4 * c.cfg.Window
	t := time.NewTimer(c.cfg.Window)
	defer t.Stop()
	for {
		select {
		case <-b.kick:
			left := limit - c.now().Sub(b.first)
			if left <= 0 {
				goto send
			}
			// Go 1.23 timers: Reset never delivers a stale tick, and
			// draining after a failed Stop would block forever.
			t.Reset(min(c.cfg.Window, left))
		case <-t.C:
			goto send
		}
	}
send:
	c.mu.Lock()
	delete(c.open, k)
	reqs := b.reqs
	for _, r := range reqs {
		r.sent = true
	}
	c.mu.Unlock()
	if len(reqs) > 0 {
		c.run(k.op, reqs)
	}
}

// run sends one batch, retrying the records that failed retryably, and
// hands each request its results.
func (c *Coalescer) run(op string, reqs []*coalesceReq) {
	var recs []plugin.Record
	for _, r := range reqs {
		recs = append(recs, r.recs...)
	}
	// The call serves several orders; none of their cancellations may cut
	// it short (the host bounds each call).
	ctx := context.Background()
	final := map[string]plugin.Result{}
	var callErr error
	todo := recs
	for attempt := 0; len(todo) > 0; attempt++ {
		if !c.acquire(ctx) {
			break
		}
		if c.cfg.Hooks.Call != nil {
			c.cfg.Hooks.Call(op, len(todo), len(reqs))
		}
		var res []plugin.Result
		var err error
		if op == "present" {
			res, err = c.p.Present(ctx, slices.Clone(todo))
		} else {
			res, err = c.p.CleanUp(ctx, slices.Clone(todo))
		}
		<-c.calls
		var again []plugin.Record
		var code plugin.Code
		var asked time.Duration // the longest RetryAfter the provider sent
		if err != nil {
			var pe *plugin.Error
			if errors.As(err, &pe) && pe.Retryable && attempt < c.cfg.Retries {
				again, code, asked = todo, pe.Code, pe.RetryAfter
			} else {
				callErr = err
				break
			}
		} else {
			byID := make(map[string]plugin.Result, len(res))
			for _, r := range res {
				byID[r.ID] = r
			}
			for _, rec := range todo {
				r, ok := byID[rec.ID]
				if ok && r.Err != nil && r.Err.Retryable && attempt < c.cfg.Retries {
					again = append(again, rec)
					code = r.Err.Code
					asked = max(asked, r.Err.RetryAfter)
					continue
				}
				if ok {
					final[rec.ID] = r
				}
			}
		}
		pause := c.settle(len(again) > 0, asked)
		if len(again) > 0 && c.cfg.Hooks.Retry != nil {
			c.cfg.Hooks.Retry(op, code, len(again), pause)
		}
		todo = again
	}
	failed := map[string]bool{}
	if callErr != nil {
		for _, rec := range todo {
			failed[rec.ID] = true
		}
	}
	var alone sync.WaitGroup
	for _, r := range reqs {
		if slices.ContainsFunc(r.recs, func(rec plugin.Record) bool { return failed[rec.ID] }) {
			r.err = callErr
		} else {
			r.res = make([]plugin.Result, 0, len(r.recs))
			for _, rec := range r.recs {
				res, ok := final[rec.ID]
				if !ok {
					res = plugin.Result{ID: rec.ID, Err: plugin.Errorf(plugin.CodeOther, true, "the provider returned no result for this record")}
				}
				r.res = append(r.res, res)
			}
		}
		if len(reqs) > 1 && r.refused() {
			// One order's bad record may have failed the whole call
			// (a provider that applies a zone's changes atomically):
			// its own call tells whose it was. Retryable failures and
			// failures to reach the plugin (a timeout, a plugin that
			// will not restart) are not sent alone: they are the
			// instance's, not a record's.
			r.res, r.err = nil, nil
			alone.Go(func() { c.run(op, []*coalesceReq{r}) })
			continue
		}
		close(r.done)
	}
	alone.Wait()
}

// refused reports whether the provider refused r, as a whole call or a
// record, with a failure it does not mark retryable.
func (r *coalesceReq) refused() bool {
	if r.err != nil {
		var pe *plugin.Error
		return errors.As(r.err, &pe) && !pe.Retryable
	}
	return slices.ContainsFunc(r.res, func(res plugin.Result) bool { return res.Err != nil && !res.Err.Retryable })
}

// settle records the outcome of a call: a retryable failure pauses the
// whole instance (doubling for each in a row, or as long as the provider
// asked), a clean call resets that. It returns the pause.
func (c *Coalescer) settle(failed bool, asked time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !failed {
		c.strikes = 0
		return 0
	}
	now := c.now()
	asked = min(asked, maxProviderRetryAfter)
	if c.paused.After(now) {
		// A concurrent call already paused the instance: the same
		// throttling, not a new failure in a row.
		c.paused = later(c.paused, now.Add(asked))
		return c.paused.Sub(now)
	}
	pause := c.cfg.Backoff
	for i := 0; i < c.strikes && pause < maxRetryBackoff; i++ {
		pause *= 2
	}
	pause = max(min(pause, maxRetryBackoff), asked)
	c.strikes++
	c.paused = now.Add(pause)
	return pause
}

// acquire waits for a call slot, the instance's backoff and a rate token.
func (c *Coalescer) acquire(ctx context.Context) bool {
	start := c.now()
	select {
	case c.calls <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	for {
		c.mu.Lock()
		now := c.now()
		wait := c.paused.Sub(now)
		if wait <= 0 && c.cfg.Rate > 0 {
			c.tokens = min(float64(c.cfg.Burst), c.tokens+now.Sub(c.refill).Seconds()*c.cfg.Rate)
			c.refill = now
			if c.tokens >= 1 {
				c.tokens--
			} else {
				wait = time.Duration((1 - c.tokens) / c.cfg.Rate * float64(time.Second))
			}
		}
		c.mu.Unlock()
		if wait <= 0 {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			<-c.calls
			return false
		case <-t.C:
		}
	}
	if d := c.now().Sub(start); d > 0 && c.cfg.Hooks.Waited != nil {
		c.cfg.Hooks.Waited(d)
	}
	return true
}

// String names the coalescer's settings, for logs.
func (c *Coalescer) String() string {
	return fmt.Sprintf("coalescer(window %s, calls %d, rate %g/s)", c.cfg.Window, c.cfg.MaxCalls, c.cfg.Rate)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
