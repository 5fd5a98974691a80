package daemon

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// scheduler is the one loop that owns time: a priority queue of next-check
// times per certificate and one goroutine that sleeps until the earliest,
// then hands due work to a bounded pool. No timer per certificate, no pass
// over all of them on a tick: a due certificate costs O(log n).
//
// A certificate is never worked on twice at once: while its work runs it is
// out of the queue, and the time its work returns puts it back.
type scheduler struct {
	now   func() time.Time
	work  func(ctx context.Context, name string) time.Time
	slots int

	mu      sync.Mutex
	q       queue
	items   map[string]*item
	running int
	wake    chan struct{}
	done    sync.WaitGroup

	// beat is the loop's last pass (unix nanoseconds), for /healthz.
	beat atomic.Int64
}

type item struct {
	name    string
	at      time.Time
	index   int  // in q; -1 while running
	removed bool // dropped by a reload while running
	dirty   bool // changed by a reload while running: check again at once
}

// heartbeat is the longest the loop sleeps, so /healthz can tell a live
// loop from a stuck one even when nothing is due for days.
const heartbeat = 10 * time.Second

func newScheduler(slots int, now func() time.Time, work func(context.Context, string) time.Time) *scheduler {
	return &scheduler{now: now, work: work, slots: max(slots, 1), items: map[string]*item{}, wake: make(chan struct{}, 1)}
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// schedule checks name at at: it adds name, moves it, or (while it runs)
// marks it to be checked again as soon as it is done.
func (s *scheduler) schedule(name string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[name]
	switch {
	case !ok:
		it = &item{name: name, at: at}
		s.items[name] = it
		heap.Push(&s.q, it)
	case it.index < 0:
		it.dirty, it.removed = true, false
	default:
		it.at = at
		heap.Fix(&s.q, it.index)
	}
	s.signal()
}

// remove drops name; work already running finishes and is not requeued.
func (s *scheduler) remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[name]
	if !ok {
		return
	}
	if it.index < 0 {
		it.removed = true
		return
	}
	heap.Remove(&s.q, it.index)
	delete(s.items, name)
}

// setSlots changes the pool size (a reload).
func (s *scheduler) setSlots(n int) {
	s.mu.Lock()
	s.slots = max(n, 1)
	s.mu.Unlock()
	s.signal()
}

// run dispatches due work until ctx ends; work gets workCtx. It returns at
// once when ctx ends; wait for the work with waitIdle.
func (s *scheduler) run(ctx, workCtx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		now := s.now()
		s.beat.Store(now.UnixNano())
		sleep := heartbeat
		s.mu.Lock()
		for s.running < s.slots && len(s.q) > 0 && !s.q[0].at.After(now) {
			it := heap.Pop(&s.q).(*item)
			s.running++
			s.done.Add(1)
			go s.exec(workCtx, it)
		}
		if s.running < s.slots && len(s.q) > 0 {
			sleep = min(sleep, s.q[0].at.Sub(now))
		}
		s.mu.Unlock()
		timer.Reset(sleep)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

func (s *scheduler) exec(ctx context.Context, it *item) {
	defer s.done.Done()
	next := s.work(ctx, it.name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running--
	switch {
	case it.removed:
		delete(s.items, it.name)
	default:
		if it.dirty {
			next = s.now()
		}
		it.at, it.dirty = next, false
		heap.Push(&s.q, it)
	}
	s.signal()
}

// waitIdle waits for running work, at most until ctx ends.
func (s *scheduler) waitIdle(ctx context.Context) bool {
	idle := make(chan struct{})
	go func() {
		s.done.Wait()
		close(idle)
	}()
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		return false
	}
}

// alive reports whether the loop ran within two heartbeats.
func (s *scheduler) alive() bool {
	last := s.beat.Load()
	return last != 0 && s.now().Sub(time.Unix(0, last)) < 2*heartbeat+time.Second
}

// length is the number of certificates scheduled or running.
func (s *scheduler) length() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// queue is a min-heap of items by time.
type queue []*item

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *queue) Push(x any) {
	it := x.(*item)
	it.index = len(*q)
	*q = append(*q, it)
}
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	it.index = -1
	return it
}
