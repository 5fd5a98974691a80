package daemon

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testDeadline is the one deadline of a scheduler test: a broken
// scheduler fails it there instead of hanging until go test's timeout.
func testDeadline(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recv receives from ch, failing the test at the deadline.
func recv[T any](t *testing.T, ctx context.Context, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
	}
	var zero T
	return zero
}

// send sends on ch, failing the test at the deadline.
func send[T any](t *testing.T, ctx context.Context, ch chan<- T, v T, what string) {
	t.Helper()
	select {
	case ch <- v:
	case <-ctx.Done():
		t.Fatalf("waiting to %s: %v", what, ctx.Err())
	}
}

// waitCtx blocks work until release or the deadline.
func waitCtx(ctx context.Context, release <-chan struct{}) {
	select {
	case <-release:
	case <-ctx.Done():
	}
}

// TestSchedulerBound: never more work at once than slots, every due name
// runs, earliest first.
func TestSchedulerBound(t *testing.T) {
	dl := testDeadline(t)
	const n, slots = 20, 3
	var running, peak atomic.Int32
	var mu sync.Mutex
	var order []string
	done := make(chan string, n)
	release := make(chan struct{})
	s := newScheduler(slots, time.Now, func(_ context.Context, name string) time.Time {
		r := running.Add(1)
		for {
			p := peak.Load()
			if r <= p || peak.CompareAndSwap(p, r) {
				break
			}
		}
		mu.Lock()
		order = append(order, name)
		mu.Unlock()
		waitCtx(dl, release)
		running.Add(-1)
		done <- name
		return time.Now().Add(time.Hour)
	})
	base := time.Now().Add(-time.Minute)
	for i := range n {
		s.schedule(fmt.Sprintf("c%02d", i), base.Add(time.Duration(i)*time.Second))
	}
	ctx, cancel := context.WithCancel(dl)
	defer cancel()
	go s.run(ctx, dl)
	for range n {
		send(t, dl, release, struct{}{}, "release work")
		recv(t, dl, done, "work done")
	}
	if p := peak.Load(); p > slots {
		t.Errorf("peak concurrency %d > %d slots", p, slots)
	}
	if len(order) != n {
		t.Errorf("%d runs, want %d", len(order), n)
	}
	if l := s.length(); l != n {
		t.Errorf("%d names scheduled after their work, want %d", l, n)
	}
	if !s.alive() {
		t.Error("scheduler not alive while running")
	}
}

// TestSchedulerEarliestFirst: with one slot, due names run in time order,
// whatever order they were scheduled in.
func TestSchedulerEarliestFirst(t *testing.T) {
	dl := testDeadline(t)
	ran := make(chan string, 10)
	s := newScheduler(1, time.Now, func(_ context.Context, name string) time.Time {
		ran <- name
		return time.Now().Add(time.Hour)
	})
	base := time.Now().Add(-time.Minute)
	for _, i := range []int{3, 1, 4, 0, 2} {
		s.schedule(fmt.Sprint(i), base.Add(time.Duration(i)*time.Second))
	}
	ctx, cancel := context.WithCancel(dl)
	defer cancel()
	go s.run(ctx, dl)
	for i := range 5 {
		if got := recv(t, dl, ran, "a run"); got != fmt.Sprint(i) {
			t.Fatalf("run %d was %s", i, got)
		}
	}
}

// TestSchedulerRemoveAndReschedule: a name removed while it runs is not
// requeued; a name rescheduled while it runs runs again at once.
func TestSchedulerRemoveAndReschedule(t *testing.T) {
	dl := testDeadline(t)
	started := make(chan string, 10)
	release := make(chan struct{})
	var runs sync.Map
	s := newScheduler(2, time.Now, func(_ context.Context, name string) time.Time {
		v, _ := runs.LoadOrStore(name, new(atomic.Int32))
		v.(*atomic.Int32).Add(1)
		started <- name
		waitCtx(dl, release)
		return time.Now().Add(time.Hour)
	})
	ctx, cancel := context.WithCancel(dl)
	defer cancel()
	go s.run(ctx, dl)
	s.schedule("gone", time.Now())
	s.schedule("again", time.Now())
	recv(t, dl, started, "the first run")
	recv(t, dl, started, "the second run")
	s.remove("gone")
	s.schedule("again", time.Now().Add(time.Hour)) // changed while running: check at once
	send(t, dl, release, struct{}{}, "release a run")
	send(t, dl, release, struct{}{}, "release a run")
	if name := recv(t, dl, started, "the rescheduled name's second run"); name != "again" {
		t.Fatalf("%s ran a second time, want again", name)
	}
	send(t, dl, release, struct{}{}, "release the last run")
	cancel()
	if !s.waitIdle(dl) {
		t.Fatal("work did not finish")
	}
	if v, _ := runs.Load("gone"); v.(*atomic.Int32).Load() != 1 {
		t.Errorf("removed name ran %d times", v.(*atomic.Int32).Load())
	}
	if l := s.length(); l != 1 {
		t.Errorf("%d names left, want 1 (again)", l)
	}
}

// BenchmarkSchedulerQueue: the cost of rescheduling one of 10,000
// certificates (a heap fix), which bounds the loop's work per check.
func BenchmarkSchedulerQueue(b *testing.B) {
	s := newScheduler(4, time.Now, func(context.Context, string) time.Time { return time.Time{} })
	now := time.Now()
	for i := range 10000 {
		s.schedule(fmt.Sprintf("c%d", i), now.Add(time.Duration(i)*time.Second))
	}
	i := 0
	for b.Loop() {
		s.schedule(fmt.Sprintf("c%d", i%10000), now.Add(time.Duration(i*7919%10000)*time.Second))
		i++
	}
}
