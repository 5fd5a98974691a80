package dns01

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// DefaultShareFresh is how old a shared answer may be and still serve.
const DefaultShareFresh = 200 * time.Millisecond

// Shared lets the solvers of concurrent orders share what authoritative
// name servers answer: one question (address, name, type) is asked once at
// a time, and an answer younger than its freshness serves every solver
// that asks. With it, a solver also watches a zone through its SOA serial
// (one question every order shares) and asks for its own names only when
// the serial moves or its last look is PollCap old, so orders waiting on
// the same zone poll its name servers together rather than each on its
// own. It is safe for concurrent use.
type Shared struct {
	fresh time.Duration
	now   func() time.Time

	mu      sync.Mutex
	answers map[shareKey]*sharedAnswer

	asked, served atomic.Uint64
}

type shareKey struct {
	addr  netip.AddrPort
	name  string
	qtype uint16
}

type sharedAnswer struct {
	done chan struct{}
	msg  *dns.Msg
	err  error
	at   time.Time
}

// NewShared returns a Shared whose answers serve for fresh (0 means
// DefaultShareFresh); now is the clock (nil: time.Now).
func NewShared(fresh time.Duration, now func() time.Time) *Shared {
	if fresh <= 0 {
		fresh = DefaultShareFresh
	}
	if now == nil {
		now = time.Now
	}
	return &Shared{fresh: fresh, now: now, answers: map[shareKey]*sharedAnswer{}}
}

// Counts returns the questions sent and those answered from another
// solver's question, for metrics and benchmarks.
func (s *Shared) Counts() (asked, shared uint64) { return s.asked.Load(), s.served.Load() }

// ask returns the answer to k, asking with ask unless a fresh or pending
// one exists. The question outlives a cancelled first asker (ask is bounded
// by the query timeout), so the others still get its answer.
func (s *Shared) ask(ctx context.Context, k shareKey, ask func(context.Context) (*dns.Msg, error)) (*dns.Msg, error) {
	s.mu.Lock()
	a := s.answers[k]
	now := s.now()
	if a != nil {
		select {
		case <-a.done:
			if a.err != nil || now.Sub(a.at) >= s.fresh {
				a = nil
			}
		default: // pending: join it
		}
	}
	leader := a == nil
	if leader {
		if len(s.answers) > 4096 {
			s.prune(now)
		}
		a = &sharedAnswer{done: make(chan struct{})}
		s.answers[k] = a
	}
	s.mu.Unlock()
	if leader {
		s.asked.Add(1)
		a.msg, a.err = ask(context.WithoutCancel(ctx))
		a.at = s.now()
		close(a.done)
	} else {
		s.served.Add(1)
		select {
		case <-a.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if a.err != nil {
		return nil, a.err
	}
	return a.msg.Copy(), nil
}

// prune drops answers too old to serve; s.mu is held.
func (s *Shared) prune(now time.Time) {
	for k, a := range s.answers {
		select {
		case <-a.done:
			if now.Sub(a.at) >= s.fresh {
				delete(s.answers, k)
			}
		default:
		}
	}
}
