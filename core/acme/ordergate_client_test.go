package acme

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// overlapCA watches a fake CA's newOrder and authorization requests and
// records any moment when both kinds are in flight. Each request waits a
// little for one of the other kind to arrive, so a client without the gate
// overlaps them every time, whatever the scheduling; a gated client only
// pays the wait.
type overlapCA struct {
	mu       sync.Mutex
	inFlight [2]int // [authorization, newOrder]
	overlaps int
	arrived  chan struct{}
}

func (o *overlapCA) serve(order bool, h http.HandlerFunc) http.HandlerFunc {
	kind := 0
	if order {
		kind = 1
	}
	return func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.inFlight[kind]++
		if o.inFlight[1-kind] > 0 {
			o.overlaps++
		}
		o.mu.Unlock()
		select {
		case o.arrived <- struct{}{}:
		default:
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-o.arrived: // another request came in meanwhile
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		o.mu.Lock()
		if o.inFlight[1-kind] > 0 {
			o.overlaps++
		}
		o.inFlight[kind]--
		o.mu.Unlock()
		h(w, r)
	}
}

// The client never has a newOrder and an authorization request in flight
// at once (orderGate), however its callers interleave them.
func TestClientKeepsNewOrderFromAuthorizations(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	f := newFakeCA(t)
	o := &overlapCA{arrived: make(chan struct{})}
	f.handle("/order", o.serve(true, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", f.url("/order/1"))
		writeJSON(w, 201, orderJSON(f, "pending"))
	}))
	f.handle("/authz/1", o.serve(false, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"status": "pending", "identifier": Identifier{"dns", "example.com"},
			"challenges": []map[string]any{{"type": "dns-01", "url": f.url("/chall/1"), "status": "pending", "token": "tok"}}})
	}))
	c := f.client(t, nil)
	acct := testAccount(t, f)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 3 {
		wg.Go(func() {
			_, err := c.NewOrder(ctx, acct, OrderRequest{Identifiers: DNSIdentifiers("example.com")})
			errs <- err
		})
		wg.Go(func() {
			_, err := c.GetAuthorization(ctx, acct, f.url("/authz/1"))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if o.overlaps != 0 {
		t.Errorf("a newOrder and an authorization request were in flight together %d times", o.overlaps)
	}
}
