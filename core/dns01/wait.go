package dns01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/progress"
)

// sweepConcurrency bounds parallel questions to one address in a sweep.
const sweepConcurrency = 8

// Missing is one name server address that did not serve some values.
type Missing struct {
	Nameserver string
	Addr       netip.AddrPort
	FQDN       string
	Values     []string
	LastAnswer string // what it said last time it was asked for FQDN
}

// PropagationError is returned when the wait ends before every address of
// every name server serves every value.
type PropagationError struct {
	Zone    string
	Waited  time.Duration
	Expiry  bool // stopped at the authorization's expiry, before the timeout
	Missing []Missing
	Err     error // context.DeadlineExceeded or context.Canceled
}

func (e *PropagationError) Error() string {
	var sb strings.Builder
	why := "timed out"
	switch {
	case errors.Is(e.Err, context.Canceled):
		why = "canceled"
	case e.Expiry:
		why = "stopped at the authorization's expiry"
	}
	fmt.Fprintf(&sb, "waiting for zone %s's name servers: %s after %s:", e.Zone, why, e.Waited.Round(time.Millisecond))
	for _, m := range e.Missing {
		fmt.Fprintf(&sb, " %s (%s) lacks %s TXT %q (last answer: %s);", m.Nameserver, m.Addr, m.FQDN, m.Values, m.LastAnswer)
	}
	return strings.TrimSuffix(sb.String(), ";")
}

func (e *PropagationError) Unwrap() error { return e.Err }

// addrWait is the wait state of one name server address.
type addrWait struct {
	ns   string
	addr netip.Addr
	// pending maps each FQDN to the values this address has not served
	// yet; once served, a value is never asked for again here.
	pending    map[string]map[string]bool
	last       map[string]string // FQDN → last answer, for errors and logs
	serial     uint32
	haveSerial bool
	lastSweep  time.Time
	answered   bool // it answered at least once, so it is reachable
	unusable   bool // unreachable from here (no route), so not counted
}

func (a *addrWait) done() bool { return len(a.pending) == 0 }

// zoneWait is the authoritative wait for one zone's records.
type zoneWait struct {
	s       *Solver
	b       *Batch
	zb      *zoneBatch
	started time.Time
	mu      sync.Mutex
	addrs   []*addrWait
	ready   map[string]int // record ID → addresses serving it, as last reported
}

// waitAll waits for every zone of b at once, bounded by the propagation
// timeout and by deadline (the authorizations' expiry) when earlier.
func (s *Solver) waitAll(ctx context.Context, b *Batch, deadline time.Time) error {
	started := s.now()
	timeout := s.cfg.PropagationTimeout
	expiry := !deadline.IsZero() && deadline.Sub(started) < timeout
	if expiry {
		timeout = deadline.Sub(started)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errs := make([]error, len(b.zones))
	var wg sync.WaitGroup
	for i, zb := range b.zones {
		wg.Go(func() {
			w := &zoneWait{s: s, b: b, zb: zb, started: started, ready: map[string]int{}}
			if errs[i] = w.run(wctx); errs[i] != nil {
				var pe *PropagationError
				if errors.As(errs[i], &pe) {
					pe.Expiry = expiry && errors.Is(pe.Err, context.DeadlineExceeded)
				}
				s.notify(ctx, b, zb, "", progress.Event{Stage: progress.Failed, Err: errs[i]})
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (w *zoneWait) run(ctx context.Context) error {
	want := map[string][]string{}
	for _, r := range w.zb.records {
		want[r.FQDN] = append(want[r.FQDN], r.Value)
	}
	for _, ns := range w.zb.zone.Nameservers {
		for _, a := range ns.Addrs {
			aw := &addrWait{ns: ns.Name, addr: a, pending: map[string]map[string]bool{}, last: map[string]string{}}
			for fqdn, vals := range want {
				aw.pending[fqdn] = map[string]bool{}
				for _, v := range vals {
					aw.pending[fqdn][v] = true
				}
				aw.last[fqdn] = "not asked yet"
			}
			w.addrs = append(w.addrs, aw)
		}
	}
	w.report(ctx)
	var wg sync.WaitGroup
	for _, aw := range w.addrs {
		wg.Go(func() { w.poll(ctx, aw) })
	}
	wg.Wait()

	w.mu.Lock()
	defer w.mu.Unlock()
	pe := &PropagationError{Zone: w.zb.zone.Name, Waited: w.s.since(w.started), Err: ctx.Err()}
	usable := 0
	for _, aw := range w.addrs {
		if aw.unusable {
			continue
		}
		usable++
		for _, fqdn := range slices.Sorted(maps.Keys(aw.pending)) {
			pe.Missing = append(pe.Missing, Missing{
				Nameserver: aw.ns, Addr: w.s.q.nsAddr(aw.addr), FQDN: fqdn,
				Values: slices.Sorted(maps.Keys(aw.pending[fqdn])), LastAnswer: aw.last[fqdn],
			})
		}
	}
	if usable == 0 {
		return fmt.Errorf("waiting for zone %s: none of its name server addresses is reachable from here", w.zb.zone.Name)
	}
	if len(pe.Missing) > 0 {
		if pe.Err == nil {
			pe.Err = context.DeadlineExceeded
		}
		return pe
	}
	w.s.notify(ctx, w.b, w.zb, "", progress.Event{Stage: progress.Propagated, Ready: usable, Total: usable})
	return nil
}

// poll asks one address round after round until it serves everything,
// the context ends, or it proves unreachable. Rounds come every
// PollInterval while the wait is young (most secondaries catch up within
// seconds, and a long period would be paid on every order), then the
// period grows by half each round up to PollCap.
func (w *zoneWait) poll(ctx context.Context, aw *addrWait) {
	period := w.s.cfg.PollInterval
	timer := time.NewTimer(0)
	defer timer.Stop()
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		w.round(ctx, aw, first)
		w.report(ctx)
		w.mu.Lock()
		finished := aw.done() || aw.unusable
		w.mu.Unlock()
		if finished {
			return
		}
		if w.s.since(w.started) >= w.s.cfg.FastPollFor {
			period = min(period*3/2, w.s.cfg.PollCap)
		}
		timer.Reset(period)
	}
}

// round asks one address what it still has to serve, cheaply: with one
// name pending it asks that name; with several it asks the zone's SOA and
// one representative name, and sweeps every pending name only when the
// serial moved (the zone changed here), the representative served
// something new (a provider's batch usually lands at once), or the last
// sweep is PollCap old (providers that never change the serial, and
// batches that land record by record).
func (w *zoneWait) round(ctx context.Context, aw *addrWait, first bool) {
	w.mu.Lock()
	names := slices.Sorted(maps.Keys(aw.pending))
	w.mu.Unlock()
	if len(names) == 0 {
		return
	}
	sweep := first || len(names) == 1 || w.s.since(aw.lastSweep) >= w.s.cfg.PollCap
	if len(names) > 1 {
		if serial, ok := w.askSerial(ctx, aw); ok {
			if aw.haveSerial && serial != aw.serial {
				sweep = true
			}
			aw.serial, aw.haveSerial = serial, true
		}
	}
	if !sweep {
		if w.ask(ctx, aw, names[0]) {
			sweep = true
		}
		names = names[1:]
	}
	if !sweep {
		return
	}
	aw.lastSweep = w.s.now()
	sem := make(chan struct{}, sweepConcurrency)
	var wg sync.WaitGroup
	for _, n := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			w.ask(ctx, aw, n)
		})
	}
	wg.Wait()
}

func (w *zoneWait) askSerial(ctx context.Context, aw *addrWait) (uint32, bool) {
	r, err := w.s.q.authoritative(ctx, aw.addr, w.zb.zone.Name, dns.TypeSOA)
	if err != nil || !r.Authoritative {
		return 0, false
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, w.zb.zone.Name) {
			return soa.Serial, true
		}
	}
	return 0, false
}

// ask asks the address for the TXT values at fqdn (all values come in one
// answer) and reports whether it served a pending value.
func (w *zoneWait) ask(ctx context.Context, aw *addrWait, fqdn string) bool {
	r, err := w.s.q.authoritative(ctx, aw.addr, fqdn, dns.TypeTXT)
	var answer string
	var vals []string
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return false
		}
		answer = err.Error()
	case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
		answer = dns.RcodeToString[r.Rcode]
	case !r.Authoritative:
		answer = "not authoritative (a referral or lame server)"
	default:
		vals = txtValues(r, fqdn)
		switch {
		case r.Rcode == dns.RcodeNameError:
			answer = "NXDOMAIN"
		case len(vals) == 0:
			answer = "no TXT records"
		default:
			answer = fmt.Sprintf("TXT %q", vals)
		}
	}
	w.s.log.LogAttrs(ctx, slog.LevelDebug, "name server answer",
		slog.String("zone", w.zb.zone.Name), slog.String("ns", aw.ns), slog.String("addr", w.s.q.nsAddr(aw.addr).String()),
		slog.String("name", fqdn), slog.String("answer", answer), slog.Duration("elapsed", w.s.since(w.started)))

	w.mu.Lock()
	defer w.mu.Unlock()
	aw.last[fqdn] = answer
	if err == nil {
		aw.answered = true
	} else if unreachable(err) && !aw.answered && !aw.unusable {
		aw.unusable = true
		w.s.log.LogAttrs(ctx, slog.LevelWarn, "name server address unreachable from here; not waiting for it",
			slog.String("ns", aw.ns), slog.String("addr", w.s.q.nsAddr(aw.addr).String()), errAttr(err))
		return false
	}
	served := false
	for _, v := range vals {
		if aw.pending[fqdn][v] {
			delete(aw.pending[fqdn], v)
			served = true
		}
	}
	if p, ok := aw.pending[fqdn]; ok && len(p) == 0 {
		delete(aw.pending, fqdn)
	}
	return served
}

// unreachable reports errors meaning there is no path to the address at
// all (typically IPv6 on a host without IPv6), as opposed to a server
// that is down or slow.
func unreachable(err error) bool {
	return errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EADDRNOTAVAIL)
}

// report sends StageWaiting progress for each record whose count of
// serving addresses changed.
func (w *zoneWait) report(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	total := 0
	for _, aw := range w.addrs {
		if !aw.unusable {
			total++
		}
	}
	for _, r := range w.zb.records {
		n := 0
		for _, aw := range w.addrs {
			if !aw.unusable && !aw.pending[r.FQDN][r.Value] {
				n++
			}
		}
		if last, ok := w.ready[r.ID]; ok && last == n {
			continue
		}
		w.ready[r.ID] = n
		w.s.notify(ctx, w.b, w.zb, r.ID, progress.Event{Stage: progress.Propagating, Ready: n, Total: total})
	}
}
