package acme

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// enterAsync starts enter in a goroutine; the channel yields its leave
// function once admitted (nil if it failed).
func enterAsync(ctx context.Context, g *orderGate, order bool) <-chan func() {
	ch := make(chan func(), 1)
	go func() {
		leave, err := g.enter(ctx, order)
		if err != nil {
			leave = nil
		}
		ch <- leave
	}()
	return ch
}

// queued waits until n requests wait at g.
func queued(t *testing.T, g *orderGate, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		l := len(g.waiting)
		g.mu.Unlock()
		if l == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiting, want %d", l, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func admitted(t *testing.T, ch <-chan func(), what string) func() {
	t.Helper()
	select {
	case leave := <-ch:
		if leave == nil {
			t.Fatalf("%s failed to enter", what)
		}
		return leave
	case <-time.After(10 * time.Second):
		t.Fatalf("%s was not admitted", what)
		return nil
	}
}

func notAdmitted(t *testing.T, ch <-chan func(), what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s was admitted", what)
	case <-time.After(20 * time.Millisecond):
	}
}

// TestOrderGateExcludes: newOrders never exceed the limit and never
// overlap an authorization request, under a random mix.
func TestOrderGateExcludes(t *testing.T) {
	g := &orderGate{limit: 2}
	var orders, authzs, peakOrders atomic.Int32
	var overlap atomic.Bool
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			for j := range 50 {
				order := (i+j)%3 == 0
				leave, err := g.enter(t.Context(), order)
				if err != nil {
					t.Error(err)
					return
				}
				if order {
					n := orders.Add(1)
					for p := peakOrders.Load(); n > p && !peakOrders.CompareAndSwap(p, n); p = peakOrders.Load() {
					}
					if authzs.Load() > 0 {
						overlap.Store(true)
					}
				} else if authzs.Add(1); orders.Load() > 0 {
					overlap.Store(true)
				}
				time.Sleep(50 * time.Microsecond)
				if order {
					orders.Add(-1)
				} else {
					authzs.Add(-1)
				}
				leave()
			}
		})
	}
	wg.Wait()
	if overlap.Load() {
		t.Error("a newOrder and an authorization request were in flight together")
	}
	if p := peakOrders.Load(); p != 2 {
		t.Errorf("peak newOrders in flight %d, want the limit 2", p)
	}
	if g.orders != 0 || g.authzs != 0 || len(g.waiting) != 0 {
		t.Errorf("gate not empty at the end: %+v", g)
	}
}

// TestOrderGateArrivalOrder: an authorization request that arrives after a
// waiting newOrder waits behind it, so polls cannot starve newOrders.
func TestOrderGateArrivalOrder(t *testing.T) {
	var waits sync.Map // newOrder → how long it waited
	g := &orderGate{limit: 1, waited: func(newOrder bool, d time.Duration) { waits.Store(newOrder, d) }}
	first := admitted(t, enterAsync(t.Context(), g, false), "first authorization")
	order := enterAsync(t.Context(), g, true)
	queued(t, g, 1)
	second := enterAsync(t.Context(), g, false)
	queued(t, g, 2)
	notAdmitted(t, order, "newOrder beside an authorization request")
	notAdmitted(t, second, "authorization request behind a waiting newOrder")

	first()
	first() // a second call is harmless
	leaveOrder := admitted(t, order, "newOrder")
	notAdmitted(t, second, "authorization request beside a newOrder")
	leaveOrder()
	admitted(t, second, "second authorization")()
	for _, newOrder := range []bool{true, false} {
		if d, ok := waits.Load(newOrder); !ok || d.(time.Duration) < 20*time.Millisecond {
			t.Errorf("GateWaited(newOrder=%v) reported %v, want the 20 ms it was held back at least", newOrder, d)
		}
	}
}

// TestOrderGateCancel: a waiter whose context ends leaves the queue, and
// the waiters it held back go in.
func TestOrderGateCancel(t *testing.T) {
	g := &orderGate{limit: 1}
	held := admitted(t, enterAsync(t.Context(), g, false), "authorization")
	ctx, cancel := context.WithCancel(t.Context())
	var orderErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, orderErr = g.enter(ctx, true)
	}()
	queued(t, g, 1)
	behind := enterAsync(t.Context(), g, false)
	queued(t, g, 2)
	cancel()
	<-done
	if !errors.Is(orderErr, context.Canceled) {
		t.Fatalf("cancelled newOrder: %v, want context.Canceled", orderErr)
	}
	admitted(t, behind, "authorization behind the cancelled newOrder")()
	held()
	if g.orders != 0 || g.authzs != 0 || len(g.waiting) != 0 {
		t.Errorf("gate not empty at the end: orders %d authzs %d waiting %d", g.orders, g.authzs, len(g.waiting))
	}
}

// TestOrderGateOff: a limit below one lets everything through at once.
func TestOrderGateOff(t *testing.T) {
	g := &orderGate{limit: -1}
	a := admitted(t, enterAsync(t.Context(), g, false), "authorization")
	o1 := admitted(t, enterAsync(t.Context(), g, true), "newOrder")
	o2 := admitted(t, enterAsync(t.Context(), g, true), "second newOrder")
	a()
	o1()
	o2()
}
