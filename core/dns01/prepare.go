package dns01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
)

// prepareConcurrency bounds parallel look-ups in Prepare.
const prepareConcurrency = 8

// ZoneMismatchError reports that the SOA walk put a name in a zone the
// provider does not list: the zone is delegated elsewhere, or the
// provider's zone is not delegated to it. A zone override settles it.
type ZoneMismatchError struct {
	Zone   string   // found by the SOA walk
	FQDNs  []string // names published in Zone
	Listed []string // zones the provider lists
}

func (e *ZoneMismatchError) Error() string {
	return fmt.Sprintf("the SOA walk puts %s in zone %s, which the provider does not list (it lists %s); fix the delegation or set a zone override",
		strings.Join(e.FQDNs, ", "), e.Zone, strings.Join(e.Listed, ", "))
}

// Prepare computes where each challenge's record goes: the challenge name
// (or its alias), the final name after CNAMEs and its zone, and groups the
// records by zone. Identical values at one name are published once; a
// wildcard and its apex share a name and are published together. It asks
// DNS but changes nothing.
func (s *Solver) Prepare(ctx context.Context, challenges []Challenge) (*Batch, error) {
	return s.PrepareLabel(ctx, ChallengeLabel, challenges)
}

// PrepareLabel is Prepare for records under another label than
// _acme-challenge, as the validation method says (see
// AccountChallengeLabel and PersistLabel).
func (s *Solver) PrepareLabel(ctx context.Context, label string, challenges []Challenge) (*Batch, error) {
	if len(challenges) == 0 {
		return nil, errors.New("preparing challenges: none given")
	}
	b := &Batch{Items: make([]Item, len(challenges))}
	for i, ch := range challenges {
		id := ch.Identifier
		if ch.Value == "" || len(ch.Value) > 255 {
			return nil, fmt.Errorf("preparing challenge for %s: TXT value must be 1 to 255 octets", id)
		}
		name, err := labelledName(label, id)
		if err != nil {
			return nil, fmt.Errorf("preparing challenges: %w", err)
		}
		if alias, ok := s.cfg.Aliases[strings.TrimPrefix(id, "*.")]; ok {
			name = alias
		}
		b.Items[i] = Item{Challenge: ch, Label: label, Name: name}
	}

	// Resolve each distinct name once, a few at a time.
	names := make([]string, 0, len(b.Items))
	for _, it := range b.Items {
		names = append(names, it.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	cache := newLookupCache()
	targets := make(map[string]target, len(names))
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, prepareConcurrency)
	)
	for _, n := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t, err := s.resolveTarget(ctx, cache, n)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("preparing %s: %w", n, err))
				return
			}
			targets[n] = t
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return nil, errors.Join(errs...)
	}

	zones := map[string]*zoneBatch{}
	recByKey := map[[2]string]int{}
	for i := range b.Items {
		it := &b.Items[i]
		t := targets[it.Name]
		it.FQDN, it.Zone, it.CNAMEs = t.FQDN, t.Zone.Name, t.CNAMEs
		zb := zones[it.Zone]
		if zb == nil {
			zb = &zoneBatch{zone: t.Zone, items: map[string][]int{}, present: map[string]bool{}}
			zones[it.Zone] = zb
			b.zones = append(b.zones, zb)
		}
		k := [2]string{it.FQDN, it.Value}
		ri, ok := recByKey[k]
		if !ok {
			ri = len(zb.records)
			recByKey[k] = ri
			zb.records = append(zb.records, plugin.Record{ID: entryKey(s.cfg.Owner), FQDN: it.FQDN, Zone: it.Zone, Value: it.Value, TTL: s.cfg.TTL})
		}
		zb.items[zb.records[ri].ID] = append(zb.items[zb.records[ri].ID], i)
	}
	if err := s.checkListedZones(ctx, b); err != nil {
		return nil, err
	}
	return b, nil
}

// checkListedZones compares the SOA walk with the zones a ZoneLister
// provider hosts. A failure to list is only logged: listing is advisory.
func (s *Solver) checkListedZones(ctx context.Context, b *Batch) error {
	zl, ok := s.provider.(plugin.ZoneLister)
	if !ok {
		return nil
	}
	listed, err := zl.ListZones(ctx)
	if err != nil {
		// Most providers cannot list zones; Present reports real trouble.
		s.log.LogAttrs(ctx, slog.LevelDebug, "provider cannot list its zones; skipping the zone check", errAttr(err))
		return nil
	}
	norm := make([]string, 0, len(listed))
	for _, z := range listed {
		norm = append(norm, strings.ToLower(dns.Fqdn(z)))
	}
	var errs []error
	for _, zb := range b.zones {
		if zb.zone.override || slices.Contains(norm, zb.zone.Name) {
			continue
		}
		e := &ZoneMismatchError{Zone: zb.zone.Name, Listed: norm}
		for _, r := range zb.records {
			if !slices.Contains(e.FQDNs, r.FQDN) {
				e.FQDNs = append(e.FQDNs, r.FQDN)
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}
