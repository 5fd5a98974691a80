package dns01_test

import (
	"context"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/plugin"
)

// blockingProvider holds each Present until released.
type blockingProvider struct {
	entered chan struct{}
	release chan struct{}
}

func (p *blockingProvider) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	p.entered <- struct{}{}
	select {
	case <-p.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := make([]plugin.Result, len(recs))
	for i, r := range recs {
		out[i] = plugin.Result{ID: r.ID}
	}
	return out, nil
}

func (p *blockingProvider) CleanUp(_ context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	out := make([]plugin.Result, len(recs))
	for i, r := range recs {
		out[i] = plugin.Result{ID: r.ID}
	}
	return out, nil
}

// A caller cancelled while its batch is already at the provider does not
// withdraw it: it waits for the call to end and gets its results, so its
// CleanUp can never overtake its Present.
func TestCoalescerCancelledCallerWaitsForSentBatch(t *testing.T) {
	deadline, cancelAll := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancelAll()
	p := &blockingProvider{entered: make(chan struct{}, 1), release: make(chan struct{})}
	c := dns01.NewCoalescer(p, dns01.CoalescerConfig{Window: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(deadline)
	type result struct {
		res []plugin.Result
		err error
	}
	got := make(chan result, 1)
	go func() {
		res, err := c.Present(ctx, order(0, 3, "example.test.", "v"))
		got <- result{res, err}
	}()
	select {
	case <-p.entered: // the batch is sent
	case <-deadline.Done():
		t.Fatal("the batch never reached the provider")
	}
	cancel()
	// A caller that withdrew its sent batch returns at once; one that
	// waits returns only after the call. The grace before the release
	// lets the first show itself; the results below catch it otherwise.
	grace := time.NewTimer(100 * time.Millisecond)
	defer grace.Stop()
	select {
	case r := <-got:
		t.Fatalf("the cancelled caller returned (%v) while its batch was at the provider", r.err)
	case <-grace.C:
	}
	close(p.release)
	select {
	case r := <-got:
		if r.err != nil || len(r.res) != 3 {
			t.Errorf("cancelled mid-call: %d results, %v; want the call's 3 results", len(r.res), r.err)
		}
	case <-deadline.Done():
		t.Fatal("the cancelled caller never returned")
	}
}
