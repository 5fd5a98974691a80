package conformance_test

import (
	"context"
	"strconv"
	"sync"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
)

// store is a fake DNS service: the records it holds are what the dnstest
// server answers, so the kit sees a provider's effects only through DNS.
type store struct {
	zone string

	mu   sync.Mutex
	next int
	recs []stored
}

type stored struct{ id, fqdn, value string }

func (s *store) txt(fqdn string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.recs {
		if r.fqdn == fqdn {
			out = append(out, r.value)
		}
	}
	return out
}

// add stores value at fqdn and returns its id. A sound add reuses an
// identical record; flaws replace the name's values or add copies.
func (s *store) add(fqdn, value string, f flaw) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f {
	case replaces:
		s.removeLocked(func(r stored) bool { return r.fqdn == fqdn })
	case duplicates:
	default:
		for _, r := range s.recs {
			if r.fqdn == fqdn && r.value == value {
				return r.id
			}
		}
	}
	s.next++
	id := "txt-" + strconv.Itoa(s.next)
	s.recs = append(s.recs, stored{id: id, fqdn: fqdn, value: value})
	return id
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
}

// flaw is a deliberate violation of the plugin.Provider contract.
type flaw string

const (
	sound       flaw = "sound"
	replaces    flaw = "replaces"      // Present replaces the values at the name
	deletesAll  flaw = "deletes-all"   // CleanUp deletes every value at the name
	duplicates  flaw = "duplicates"    // Present adds another copy each time
	ignoresCtx  flaw = "ignores-ctx"   // a dead context does not stop a call
	noZoneCheck flaw = "no-zone-check" // writes records for zones it does not host
	memoryBased flaw = "memory-state"  // keeps record ids in memory, returns no State
)

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

func (p *memProvider) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	if err := ctx.Err(); err != nil && p.flaw != ignoresCtx {
		return nil, err
	}
	res := make([]plugin.Result, 0, len(recs))
	for _, r := range recs {
		if p.flaw != noZoneCheck && (r.Zone != p.s.zone || !dns.IsSubDomain(r.Zone, r.FQDN)) {
			res = append(res, plugin.Result{ID: r.ID, Err: plugin.Errorf(plugin.CodeZoneNotFound, false, "zone %s is not hosted here", r.Zone)})
			continue
		}
		id := p.s.add(r.FQDN, r.Value, p.flaw)
		state := []byte(id)
		if p.flaw == memoryBased {
			p.mu.Lock()
			p.ids[[2]string{r.FQDN, r.Value}] = id
			p.mu.Unlock()
			state = nil
		}
		res = append(res, plugin.Result{ID: r.ID, State: state})
	}
	return res, nil
}

func (p *memProvider) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	if err := ctx.Err(); err != nil && p.flaw != ignoresCtx {
		return nil, err
	}
	res := make([]plugin.Result, 0, len(recs))
	for _, r := range recs {
		switch {
		case p.flaw == deletesAll:
			p.s.remove(func(s stored) bool { return s.fqdn == r.FQDN })
		case p.flaw == memoryBased:
			p.mu.Lock()
			id := p.ids[[2]string{r.FQDN, r.Value}]
			p.mu.Unlock()
			p.s.remove(func(s stored) bool { return id != "" && s.id == id })
		case len(r.State) > 0:
			p.s.remove(func(s stored) bool { return s.id == string(r.State) && s.fqdn == r.FQDN && s.value == r.Value })
		default:
			p.s.remove(func(s stored) bool { return s.fqdn == r.FQDN && s.value == r.Value })
		}
		res = append(res, plugin.Result{ID: r.ID})
	}
	return res, nil
}
