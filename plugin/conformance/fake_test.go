package conformance_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// store is a fake DNS service: the records it holds are what the dnstest
// server answers, so the kit sees a provider's effects only through DNS.
type store struct {
	zone string
	// keep, when positive, is how many values the store keeps per name:
	// adding one more drops the oldest (acme-dns keeps two).
	keep int

	mu       sync.Mutex
	next     int
	recs     []stored
	ttl      map[string]uint32 // the one TTL of each name's set, as BIND keeps it
	accounts map[string]bool   // names provisioned, for providers that need it
}

type stored struct {
	id, fqdn, value string
	ttl             uint32 // as written; a racy write-back may bring it back
}

// values serves a name's set at the name's one TTL.
func (s *store) values(fqdn string) []dnstest.Value {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []dnstest.Value
	for _, r := range s.recs {
		if r.fqdn == fqdn {
			ttl, ok := s.ttl[fqdn]
			if !ok {
				ttl = r.ttl
			}
			out = append(out, dnstest.Value{Text: r.value, TTL: ttl})
		}
	}
	return out
}

// setTTL is the TTL of the set at fqdn, found false when there is none.
func (s *store) setTTL(fqdn string) (uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ttl, ok := s.ttl[fqdn]
	return ttl, ok
}

// add stores value at fqdn and returns its id. Like a BIND UPDATE, it sets
// the TTL of the name's whole set to ttl, and the set keeps that TTL when
// values are removed. A sound add reuses an identical record; flaws
// replace the name's values or add copies.
func (s *store) add(fqdn, value string, ttl uint32, f flaw) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ttl == nil {
		s.ttl = map[string]uint32{}
	}
	s.ttl[fqdn] = ttl
	switch f {
	case replaces:
		s.removeLocked(func(r stored) bool { return r.fqdn == fqdn })
		s.ttl[fqdn] = ttl
	case duplicates, noDelete:
	default:
		for _, r := range s.recs {
			if r.fqdn == fqdn && r.value == value {
				return r.id
			}
		}
	}
	s.next++
	id := "txt-" + strconv.Itoa(s.next)
	s.recs = append(s.recs, stored{id: id, fqdn: fqdn, value: value, ttl: ttl})
	if s.keep > 0 {
		n := 0
		for i := len(s.recs) - 1; i >= 0; i-- {
			if s.recs[i].fqdn == fqdn {
				if n++; n > s.keep {
					s.recs = append(s.recs[:i], s.recs[i+1:]...)
				}
			}
		}
	}
	return id
}

func (s *store) has(match func(stored) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if match(r) {
			return true
		}
	}
	return false
}

func (s *store) remove(match func(stored) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(match)
}

func (s *store) removeLocked(match func(stored) bool) {
	kept := s.recs[:0]
	for _, r := range s.recs {
		if !match(r) {
			kept = append(kept, r)
		}
	}
	s.recs = kept
	s.forgetEmptyLocked()
}

// forgetEmptyLocked drops the TTL of names left without values: a set
// added there later starts afresh.
func (s *store) forgetEmptyLocked() {
	for name := range s.ttl {
		if !slices.ContainsFunc(s.recs, func(r stored) bool { return r.fqdn == name }) {
			delete(s.ttl, name)
		}
	}
}

// snapshot and restore model an API that writes a name's whole record set
// back (read, modify, write) without any concurrency control.
func (s *store) snapshot() []stored {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stored(nil), s.recs...)
}

func (s *store) restore(recs []stored) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = recs
	s.forgetEmptyLocked()
}

func (s *store) provision(fqdn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.accounts == nil {
		s.accounts = map[string]bool{}
	}
	s.accounts[fqdn] = true
}

func (s *store) provisioned(fqdn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accounts[fqdn]
}

// flaw is a deliberate violation of the plugin.Provider contract, or, for
// noDelete, the behaviour of a limited API that declares its limits.
type flaw string

const (
	sound          flaw = "sound"
	replaces       flaw = "replaces"         // Present replaces the values at the name
	deletesAll     flaw = "deletes-all"      // CleanUp deletes every value at the name
	duplicates     flaw = "duplicates"       // Present adds another copy each time
	ignoresCtx     flaw = "ignores-ctx"      // a dead context does not stop a call
	noZoneCheck    flaw = "no-zone-check"    // writes records for zones it does not host
	memoryBased    flaw = "memory-state"     // keeps record ids in memory, returns no State
	silent         flaw = "silent"           // Present reports success and publishes nothing
	errsWhenAbsent flaw = "errs-when-absent" // CleanUp of a value not there is an error
	racy           flaw = "racy"             // read-modify-write of the whole store, unguarded
	clobbersTTL    flaw = "clobbers-ttl"     // Present writes at its own TTL over the name's set
	noDelete       flaw = "no-delete"        // acme-dns: no delete, provisioned names only
)

// racyHold is how long a racy call holds its snapshot before writing it
// back; concurrent calls started together all read before any writes.
const racyHold = 300 * time.Millisecond

// memProvider is an in-process provider over a store, sound or flawed.
type memProvider struct {
	s    *store
	flaw flaw

	mu  sync.Mutex
	ids map[[2]string]string // memory-state only
}

func newProvider(s *store, f flaw) *memProvider {
	return &memProvider{s: s, flaw: f, ids: make(map[[2]string]string)}
}

var _ plugin.Provider = (*memProvider)(nil)

func (p *memProvider) hold(ctx context.Context) ([]stored, error) {
	snap := p.s.snapshot()
	t := time.NewTimer(racyHold)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return snap, nil
	}
}

func (p *memProvider) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	if err := ctx.Err(); err != nil && p.flaw != ignoresCtx {
		return nil, err
	}
	var snap []stored
	if p.flaw == racy {
		var err error
		if snap, err = p.hold(ctx); err != nil {
			return nil, err
		}
	}
	res := make([]plugin.Result, 0, len(recs))
	for _, r := range recs {
		if p.flaw != noZoneCheck && (r.Zone != p.s.zone || !dns.IsSubDomain(r.Zone, r.FQDN)) ||
			p.flaw == noDelete && !p.s.provisioned(r.FQDN) {
			res = append(res, plugin.Result{ID: r.ID, Err: plugin.Errorf(plugin.CodeZoneNotFound, false, "%s is not hosted here", r.FQDN)})
			continue
		}
		if p.flaw == silent {
			res = append(res, plugin.Result{ID: r.ID, State: []byte("nothing")})
			continue
		}
		if p.flaw == racy {
			if !slices.ContainsFunc(snap, func(s stored) bool { return s.fqdn == r.FQDN && s.value == r.Value }) {
				snap = append(snap, stored{id: "racy-" + r.ID + "-" + r.Value[:8], fqdn: r.FQDN, value: r.Value, ttl: r.TTL})
			}
			res = append(res, plugin.Result{ID: r.ID, State: []byte("racy-" + r.ID + "-" + r.Value[:8])})
			continue
		}
		ttl := r.TTL
		if existing, ok := p.s.setTTL(r.FQDN); ok && p.flaw != clobbersTTL {
			ttl = existing // joining a set leaves its TTL as it is
		}
		id := p.s.add(r.FQDN, r.Value, ttl, p.flaw)
		state := []byte(id)
		if p.flaw == memoryBased {
			p.mu.Lock()
			p.ids[[2]string{r.FQDN, r.Value}] = id
			p.mu.Unlock()
			state = nil
		}
		res = append(res, plugin.Result{ID: r.ID, State: state})
	}
	if p.flaw == racy {
		p.s.restore(snap)
	}
	return res, nil
}

func (p *memProvider) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	if err := ctx.Err(); err != nil && p.flaw != ignoresCtx {
		return nil, err
	}
	var snap []stored
	if p.flaw == racy {
		var err error
		if snap, err = p.hold(ctx); err != nil {
			return nil, err
		}
	}
	res := make([]plugin.Result, 0, len(recs))
	for _, r := range recs {
		match := func(s stored) bool { return s.fqdn == r.FQDN && s.value == r.Value }
		switch {
		case p.flaw == noDelete:
		case p.flaw == racy:
			kept := snap[:0]
			for _, s := range snap {
				if !match(s) {
					kept = append(kept, s)
				}
			}
			snap = kept
		case p.flaw == errsWhenAbsent && !p.s.has(match):
			res = append(res, plugin.Result{ID: r.ID, Err: plugin.Errorf(plugin.CodeOther, false, "no such record")})
			continue
		case p.flaw == deletesAll:
			p.s.remove(func(s stored) bool { return s.fqdn == r.FQDN })
		case p.flaw == memoryBased:
			p.mu.Lock()
			id := p.ids[[2]string{r.FQDN, r.Value}]
			p.mu.Unlock()
			p.s.remove(func(s stored) bool { return id != "" && s.id == id })
		case len(r.State) > 0:
			p.s.remove(func(s stored) bool { return s.id == string(r.State) && match(s) })
		default:
			p.s.remove(match)
		}
		res = append(res, plugin.Result{ID: r.ID})
	}
	if p.flaw == racy {
		p.s.restore(snap)
	}
	return res, nil
}
