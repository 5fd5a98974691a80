package acme

import (
	"context"
	"sync"
	"time"
)

// orderGate bounds the newOrder requests a Client has in flight and keeps
// them apart from its authorization requests.
//
// The second rule is for Pebble (2.10.1 at least), whose in-memory store
// deadlocks when three requests meet: a newOrder scanning every
// authorization under the store's read lock, an authorization request that
// holds its authorization's lock while it looks up the account, and any
// request waiting for the store's write lock. A Client cannot stop other
// clients from meeting there, but it never sends the first two at once. A
// real CA loses little: a newOrder waits for the authorization requests
// already sent, and the other way round.
//
// Waiters are served in arrival order, so a stream of authorization polls
// cannot starve a newOrder, nor a queue of newOrders the polls.
type orderGate struct {
	limit  int // newOrders in flight at most; < 1 means no gate at all
	now    func() time.Time
	waited func(newOrder bool, d time.Duration) // Options.GateWaited; may be nil

	mu      sync.Mutex
	orders  int // newOrder requests in flight
	authzs  int // authorization requests in flight
	waiting []*gateWaiter
}

type gateWaiter struct {
	order    bool
	admitted chan struct{}
}

// enter waits until a request of its kind (a newOrder when order is true,
// else an authorization request) may go, and returns the function that
// ends it. It returns ctx's error if ctx ends first.
func (g *orderGate) enter(ctx context.Context, order bool) (leave func(), err error) {
	if g.limit < 1 {
		return func() {}, nil
	}
	g.mu.Lock()
	if len(g.waiting) == 0 && g.fits(order) {
		g.admit(order)
		g.mu.Unlock()
		return g.leaver(order), nil
	}
	w := &gateWaiter{order: order, admitted: make(chan struct{})}
	g.waiting = append(g.waiting, w)
	g.mu.Unlock()

	start := g.clock()
	select {
	case <-w.admitted:
		if g.waited != nil {
			g.waited(order, g.clock().Sub(start))
		}
		return g.leaver(order), nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-w.admitted: // admitted meanwhile: give the place back
		g.release(order)
	default:
		for i, o := range g.waiting {
			if o == w {
				g.waiting = append(g.waiting[:i], g.waiting[i+1:]...)
				break
			}
		}
		g.wake() // w may have held back compatible waiters behind it
	}
	return nil, ctx.Err()
}

func (g *orderGate) clock() time.Time {
	if g.now == nil {
		return time.Now()
	}
	return g.now()
}

func (g *orderGate) fits(order bool) bool {
	if order {
		return g.authzs == 0 && g.orders < g.limit
	}
	return g.orders == 0
}

func (g *orderGate) admit(order bool) {
	if order {
		g.orders++
	} else {
		g.authzs++
	}
}

func (g *orderGate) leaver(order bool) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.release(order)
		})
	}
}

// release ends one request and admits the waiters that now fit.
// g.mu is held.
func (g *orderGate) release(order bool) {
	if order {
		g.orders--
	} else {
		g.authzs--
	}
	g.wake()
}

// wake admits waiters from the front of the queue for as long as they fit.
// g.mu is held.
func (g *orderGate) wake() {
	for len(g.waiting) > 0 && g.fits(g.waiting[0].order) {
		w := g.waiting[0]
		g.waiting = g.waiting[1:]
		g.admit(w.order)
		close(w.admitted)
	}
}
