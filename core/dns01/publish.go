package dns01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/plugin"
)

// PublishError is a provider's refusal of one record.
type PublishError struct {
	Identifier string
	FQDN       string
	Zone       string
	CNAMEs     []string // the CNAMEs that led from the challenge name to FQDN
	Err        error    // a *plugin.Error where the provider gave a code
}

func (e *PublishError) Error() string {
	var pe *plugin.Error
	if errors.As(e.Err, &pe) && pe.Code == plugin.CodeZoneNotFound && len(e.CNAMEs) > 0 {
		return fmt.Sprintf("publishing the challenge for %s: the provider cannot write zone %s, reached through the CNAME %s → %s "+
			"(if that CNAME is not yours, for example a wildcard CNAME in a parent zone that also matches _acme-challenge, "+
			"add an explicit record at %s or configure an alias): %v",
			e.Identifier, e.Zone, strings.Join(e.CNAMEs, " → "), e.FQDN, e.CNAMEs[0], e.Err)
	}
	return fmt.Sprintf("publishing the challenge for %s at %s in zone %s: %v", e.Identifier, e.FQDN, e.Zone, e.Err)
}

func (e *PublishError) Unwrap() error { return e.Err }

// Publish journals the batch's records, presents them with one Present
// call per zone (all zones at once; plugin/host.Client splits a call by the
// plugin's MaxBatch), lets a plugin.Syncer provider confirm
// its own servers, then waits as Config.Wait says. The authoritative wait
// ends by the propagation timeout or deadline (the authorizations' expiry;
// zero means none), whichever is first.
//
// Call CleanUp afterwards whatever Publish returned, with a context that
// outlives the caller's (context.WithoutCancel).
func (s *Solver) Publish(ctx context.Context, b *Batch, deadline time.Time) error {
	if b == nil || len(b.zones) == 0 {
		return errors.New("publishing: empty batch (use Prepare)")
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(b.zones))
	var wg sync.WaitGroup
	for i, zb := range b.zones {
		wg.Go(func() {
			if errs[i] = s.presentZone(pctx, b, zb); errs[i] != nil {
				cancel() // the order fails as a whole; stop the other zones
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	switch {
	case s.cfg.Wait == WaitAuthoritative:
		return s.waitAll(ctx, b, deadline)
	case s.cfg.Wait > 0:
		t := time.NewTimer(time.Duration(s.cfg.Wait))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting a fixed delay: %w", ctx.Err())
		case <-t.C:
		}
	}
	for _, zb := range b.zones {
		s.notify(ctx, b, zb, "", progress.Event{Stage: progress.Propagated})
	}
	return nil
}

func (s *Solver) presentZone(ctx context.Context, b *Batch, zb *zoneBatch) error {
	now := s.now()
	for _, r := range zb.records {
		if err := s.journal.Put(ctx, r.ID, s.entry(b, zb, r, now)); err != nil {
			return fmt.Errorf("journaling %s before publishing: %w", r.FQDN, err)
		}
		zb.mu.Lock()
		zb.present[r.ID] = true
		zb.mu.Unlock()
	}
	s.notify(ctx, b, zb, "", progress.Event{Stage: progress.Publishing})
	results, err := s.provider.Present(ctx, slices.Clone(zb.records))
	if err != nil {
		return s.recordErrors(ctx, b, zb, nil, err)
	}
	byID := map[string]plugin.Result{}
	for _, res := range results {
		byID[res.ID] = res
	}
	failed := map[string]error{}
	for i, r := range zb.records {
		res, ok := byID[r.ID]
		switch {
		case !ok:
			failed[r.ID] = errors.New("the provider returned no result for this record")
		case res.Err != nil:
			failed[r.ID] = res.Err
		default:
			zb.mu.Lock()
			zb.records[i].State = res.State
			r = zb.records[i]
			zb.mu.Unlock()
			if len(res.State) > 0 {
				if err := s.journal.Put(ctx, r.ID, s.entry(b, zb, r, now)); err != nil {
					return fmt.Errorf("journaling the cleanup state of %s: %w", r.FQDN, err)
				}
			}
		}
	}
	if len(failed) > 0 {
		s.forgetRefused(ctx, zb, failed)
		return s.recordErrors(ctx, b, zb, failed, nil)
	}
	// The host's plugin client has WaitForSync whatever the plugin
	// declares; only a declared sync step is reported and called.
	if syncer, ok := s.provider.(plugin.Syncer); ok && plugin.CapabilitiesOf(s.provider).Sync {
		s.notify(ctx, b, zb, "", progress.Event{Stage: progress.Syncing})
		zb.mu.Lock()
		recs := slices.Clone(zb.records)
		zb.mu.Unlock()
		if err := syncer.WaitForSync(ctx, recs); err != nil {
			return fmt.Errorf("waiting for the provider to sync zone %s: %w", zb.zone.Name, err)
		}
	}
	return nil
}

// entry is the journal entry of record r of zb.
func (s *Solver) entry(b *Batch, zb *zoneBatch, r plugin.Record, created time.Time) []byte {
	return encodeEntry(journalEntry{Record: r, Identifier: b.Items[zb.items[r.ID][0]].Identifier,
		Created: created, Owner: s.cfg.Owner, Lease: s.ownerLease(), Provider: s.cfg.Provider})
}

func (s *Solver) ownerLease() string {
	if l, ok := s.journal.(OwnerLeases); ok {
		return l.OwnerLease()
	}
	return ""
}

// forgetRefused unjournals records the provider refused because it does
// not host their zone: nothing was created, and a cleanup would be refused
// the same way on every later run.
func (s *Solver) forgetRefused(ctx context.Context, zb *zoneBatch, failed map[string]error) {
	for id, err := range failed {
		var pe *plugin.Error
		if !errors.As(err, &pe) || pe.Code != plugin.CodeZoneNotFound {
			continue
		}
		if s.journal.Delete(ctx, id) != nil {
			continue // CleanUp and Recover will try again
		}
		zb.mu.Lock()
		delete(zb.present, id)
		zb.mu.Unlock()
	}
}

// recordErrors turns a whole-call error (all) or per-record errors into
// one PublishError per identifier, and reports them.
func (s *Solver) recordErrors(ctx context.Context, b *Batch, zb *zoneBatch, failed map[string]error, all error) error {
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(zb.items)) {
		err := all
		if err == nil {
			err = failed[id]
		}
		if err == nil {
			continue
		}
		for _, i := range zb.items[id] {
			it := b.Items[i]
			pe := &PublishError{Identifier: it.Identifier, FQDN: it.FQDN, Zone: it.Zone, CNAMEs: it.CNAMEs, Err: err}
			errs = append(errs, pe)
			s.emit(ctx, it, progress.Event{Stage: progress.Failed, Err: pe})
		}
	}
	return errors.Join(errs...)
}

func (s *Solver) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.CleanupTimeout)
}

// CleanUp removes every record of b that Publish journaled, with one
// CleanUp call per zone, and deletes the journal entries of those the
// provider removed. Entries it could not remove stay for Recover. Without
// a deadline on ctx it applies Config.CleanupTimeout. Calling it twice is
// harmless.
func (s *Solver) CleanUp(ctx context.Context, b *Batch) error {
	if b == nil {
		return nil
	}
	ctx, cancel := s.cleanupContext(ctx)
	defer cancel()
	errs := make([]error, len(b.zones))
	var wg sync.WaitGroup
	for i, zb := range b.zones {
		zb.mu.Lock()
		var recs []plugin.Record
		for _, r := range zb.records {
			if zb.present[r.ID] {
				recs = append(recs, r)
			}
		}
		zb.mu.Unlock()
		if len(recs) == 0 {
			continue
		}
		wg.Go(func() {
			s.notify(ctx, b, zb, "", progress.Event{Stage: progress.CleaningUp})
			done, err := s.cleanUpRecords(ctx, recs)
			zb.mu.Lock()
			for _, id := range done {
				delete(zb.present, id)
			}
			zb.mu.Unlock()
			stage := progress.CleanedUp
			if plugin.CapabilitiesOf(s.provider).NoDelete {
				stage = progress.LeftInPlace // never claim a removal that cannot happen
			}
			for _, id := range done {
				s.notify(ctx, b, zb, id, progress.Event{Stage: stage})
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// cleanUpRecords calls the provider for one zone's records and unjournals
// those it removed; it returns their IDs.
func (s *Solver) cleanUpRecords(ctx context.Context, recs []plugin.Record) ([]string, error) {
	zone := recs[0].Zone
	results, err := s.provider.CleanUp(ctx, recs)
	if err != nil {
		return nil, fmt.Errorf("cleaning up zone %s: %w", zone, err)
	}
	byID := map[string]plugin.Result{}
	for _, r := range results {
		byID[r.ID] = r
	}
	var done []string
	var errs []error
	for _, r := range recs {
		res, ok := byID[r.ID]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("cleaning up %s in %s: the provider returned no result", r.FQDN, zone))
		case res.Err != nil:
			errs = append(errs, fmt.Errorf("cleaning up %s in %s: %w", r.FQDN, zone, res.Err))
		default:
			if err := s.journal.Delete(ctx, r.ID); err != nil {
				errs = append(errs, fmt.Errorf("unjournaling %s: %w", r.FQDN, err))
				continue
			}
			done = append(done, r.ID)
		}
	}
	return done, errors.Join(errs...)
}

// Recover cleans up records left in the journal by earlier runs that
// crashed or could not finish their cleanup, one CleanUp call per zone and
// owner, and returns how many it removed. Call it before the first Publish.
//
// It touches only entries whose owner is gone (Config.Owners) and that this
// Solver's provider instance presented (Config.Provider): records of a run
// still going, this Solver's own included, are left alone, and so are
// records of another provider, which are logged with the provider they
// need.
//
// With a KeyedJournal, entries whose key names their owner (entryKey) are
// read only once their owner is adopted: a live owner's entries cost no
// reads, and what is read cannot change under the reader. Older keys are
// read first to learn their owner.
func (s *Solver) Recover(ctx context.Context) (int, error) {
	ctx, cancel := s.cleanupContext(ctx)
	defer cancel()
	j, ok := s.journal.(KeyedJournal)
	if !ok {
		all, err := s.journal.List(ctx)
		if err != nil {
			return 0, fmt.Errorf("recovering: %w", err)
		}
		j = listedJournal(all)
	}
	keys, err := j.Keys(ctx)
	if err != nil {
		return 0, fmt.Errorf("recovering: %w", err)
	}
	r := &recovery{s: s, j: j, owners: map[string]*ownerEntries{}, otherProvider: map[string]int{}}
	for _, key := range keys {
		if owner, ok := keyOwner(key); ok {
			if owner != s.cfg.Owner { // else ours, in flight
				r.owner(owner).keys = append(r.owner(owner).keys, key)
			}
			continue
		}
		e, ok, err := r.read(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("recovering: %w", err)
		}
		if ok {
			r.add(e)
		}
	}
	n := 0
	var errs []error
	for _, owner := range slices.Sorted(maps.Keys(r.owners)) {
		done, err := r.recoverOwner(ctx, owner)
		n += done
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(r.otherProvider)) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "leaving journaled records of another provider; a run with that provider removes them",
			slog.String("provider", p), slog.Int("records", r.otherProvider[p]))
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("recovering: %w", err)
	}
	return n, nil
}

// recovery is one Recover's view of the journal, by owner.
type recovery struct {
	s             *Solver
	j             KeyedJournal
	owners        map[string]*ownerEntries
	otherProvider map[string]int // provider instance: entries left to it
}

// ownerEntries is what one owner left: records read, keys still unread.
type ownerEntries struct {
	recs  []plugin.Record
	keys  []string
	lease string // for the logs
}

func (r *recovery) owner(owner string) *ownerEntries {
	o := r.owners[owner]
	if o == nil {
		o = &ownerEntries{}
		r.owners[owner] = o
	}
	return o
}

// add files e under its owner, unless it is this Solver's own or another
// provider instance's.
func (r *recovery) add(e journalEntry) {
	switch {
	case e.Owner == r.s.cfg.Owner:
		return // ours, in flight
	case e.Provider != "" && r.s.cfg.Provider != "" && e.Provider != r.s.cfg.Provider:
		r.otherProvider[e.Provider]++
		return
	}
	o := r.owner(e.Owner)
	o.recs = append(o.recs, e.Record)
	if e.Lease != "" {
		o.lease = e.Lease
	}
}

// read returns the entry at key; ok is false when there is none to clean:
// removed meanwhile, of a newer format (left alone) or unreadable (dropped).
func (r *recovery) read(ctx context.Context, key string) (journalEntry, bool, error) {
	raw, ok, err := r.j.Get(ctx, key)
	if err != nil || !ok {
		return journalEntry{}, false, err
	}
	e, err := decodeEntry(key, raw)
	if errors.Is(err, errNewerEntry) {
		// A newer zonecert wrote it; it knows how to clean it up.
		r.s.log.LogAttrs(ctx, slog.LevelWarn, "leaving a journal entry of a newer format", slog.String("key", key))
		return journalEntry{}, false, nil
	}
	if err != nil {
		// Nothing can be cleaned from it; keeping it would fail every run.
		r.s.log.LogAttrs(ctx, slog.LevelWarn, "dropping an unreadable journal entry", slog.String("key", key), errAttr(err))
		return journalEntry{}, false, r.s.journal.Delete(ctx, key)
	}
	return e, true, nil
}

// recoverOwner cleans up the records of one owner, if it is gone, holding
// its lock meanwhile; the entries its keys name are read only then.
func (r *recovery) recoverOwner(ctx context.Context, owner string) (int, error) {
	s, o := r.s, r.owners[owner]
	adopted := false
	if owner != "" && s.cfg.Owners != nil {
		release, err := s.cfg.Owners.Adopt(ctx, owner)
		if errors.Is(err, ErrOwnerAlive) {
			s.log.LogAttrs(ctx, slog.LevelDebug, "leaving journaled records of a running order", slog.String("owner", owner), slog.Int("records", len(o.recs)+len(o.keys)))
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("checking the owner of %d journaled records: %w", len(o.recs)+len(o.keys), err)
		}
		defer release(context.WithoutCancel(ctx))
		adopted = true
	}
	for _, key := range o.keys {
		e, ok, err := r.read(ctx, key)
		if err != nil {
			return 0, fmt.Errorf("reading the journaled records of %s: %w", owner, err)
		}
		if !ok {
			continue
		}
		if e.Owner != owner {
			// Written by hand: the owner it names was never adopted.
			s.log.LogAttrs(ctx, slog.LevelWarn, "leaving a journal entry whose key names another owner", slog.String("key", key), slog.String("owner", e.Owner))
			continue
		}
		r.add(e)
	}
	if len(o.recs) == 0 {
		return 0, nil // all another provider's, or gone meanwhile
	}
	if adopted {
		detail := owner
		if o.lease != "" {
			detail += " (lease " + o.lease + ")"
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "taking over the records of a vanished order", slog.String("owner", detail), slog.Int("records", len(o.recs)))
		s.obs.Observe(ctx, progress.Event{Time: s.now(), Stage: progress.TakenOver, Detail: detail, Total: len(o.recs)})
	}
	byZone := map[string][]plugin.Record{}
	for _, rec := range o.recs {
		byZone[rec.Zone] = append(byZone[rec.Zone], rec)
	}
	n := 0
	var errs []error
	for _, zone := range slices.Sorted(maps.Keys(byZone)) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "cleaning up records left by an earlier run", slog.String("zone", zone), slog.Int("records", len(byZone[zone])))
		done, err := s.cleanUpRecords(ctx, byZone[zone])
		n += len(done)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}
