package core

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/plugin"
)

// pendingAuthz is one authorization that needs a challenge solved.
type pendingAuthz struct {
	identifier string // "*." kept for wildcards, as in the order
	authzURL   string
	authz      acme.Authorization
	challenge  acme.Challenge // of the method chosen (pickChallenges)
	expires    time.Time
}

// authorize solves every pending authorization of the order: all records go
// to the provider in one batch per zone and a single wait covers them all
// (a wildcard and its apex make one round trip, not two). Only then are the
// challenges answered (RFC 8555 §7.5.1) and the authorizations polled.
// The records are removed before authorize returns, whatever happened. A
// provider with a cap on values per name gets rounds (dns01.Rounds).
//
// A failed removal does not fail the order (the records stay journaled and
// the next run removes them); it is returned as cleanupErr.
//
// The method (see chooseMethod) decides the record: dns-01 and
// dns-account-01 publish the same value under different labels;
// dns-persist-01 publishes nothing (authorizePersist). It returns the
// method used, which differs from method only when auto's dns-persist-01
// falls back to dns-01.
func (e *Engine) authorize(ctx context.Context, client *acme.Client, acct acme.Account, order acme.Order, solver *dns01.Solver,
	req Request, method string, checkedIssuers []string) (used string, cleanupErr, err error) {
	pending, err := e.pendingAuthorizations(ctx, client, acct, order, req.Domains)
	if err != nil || len(pending) == 0 {
		return method, nil, err
	}
	if method, err = e.pickChallenges(ctx, pending, method, req.Challenge == ChallengeAuto); err != nil {
		return "", nil, err
	}
	if method == acme.ChallengeDNSPersist01 {
		return method, nil, e.authorizePersist(ctx, client, acct, pending, req, checkedIssuers)
	}
	if solver == nil {
		return "", nil, kindErr(KindInput, "%s needs a DNS provider", method)
	}
	label := dns01.ChallengeLabel
	if method == acme.ChallengeDNSAccount01 {
		if plugin.CapabilitiesOf(e.provider).ChallengeDetails {
			// Such a plugin (the lego bridge) derives name and value
			// from the dns-01 key authorization itself.
			return "", nil, kindErr(KindInput, "the DNS provider computes dns-01 records itself and cannot publish dns-account-01 records: use --challenge dns-01 or auto")
		}
		label = dns01.AccountChallengeLabel(acme.DNSAccountLabel(acct.URL))
	}
	cleanupErr, err = e.publishAndValidate(ctx, client, acct, pending, solver, method, label)
	return method, cleanupErr, err
}

// publishAndValidate publishes one record per pending authorization under
// label, waits for every authoritative server, and has the CA validate.
func (e *Engine) publishAndValidate(ctx context.Context, client *acme.Client, acct acme.Account, pending []pendingAuthz,
	solver *dns01.Solver, method, label string) (cleanupErr, err error) {
	challenges := make([]dns01.Challenge, 0, len(pending))
	details := make([]dns01.Details, 0, len(pending))
	for _, p := range pending {
		ka, err := acme.KeyAuthorization(acct.Key, p.challenge.Token)
		if err != nil {
			return nil, fmt.Errorf("key authorization: %w", err)
		}
		challenges = append(challenges, dns01.Challenge{Identifier: p.identifier, Value: acme.DNS01Value(ka)})
		details = append(details, dns01.Details{Token: p.challenge.Token, KeyAuthorization: ka})
		e.observe(ctx, progress.Event{Stage: progress.Pending, Identifier: p.identifier, Detail: method})
	}
	batch, err := solver.PrepareLabel(ctx, label, challenges)
	if err != nil {
		return nil, &Error{Kind: KindDNS, Err: fmt.Errorf("preparing DNS records: %w", err)}
	}
	if method == acme.ChallengeDNS01 {
		batch.AttachDetails(details)
	}
	// A provider that keeps few values per name (acme-dns: two) gets the
	// records in rounds, each validated before the next pushes it out.
	rounds := dns01.Rounds(batch.Items, plugin.CapabilitiesOf(e.provider).MaxValuesPerName)
	if len(rounds) == 1 {
		return e.solve(ctx, client, acct, pending, batch, solver)
	}
	var cleanupErrs []error
	for _, idx := range rounds {
		round := make([]pendingAuthz, len(idx))
		chs := make([]dns01.Challenge, len(idx))
		det := make([]dns01.Details, len(idx))
		for i, k := range idx {
			round[i], chs[i], det[i] = pending[k], challenges[k], details[k]
		}
		b, err := solver.PrepareLabel(ctx, label, chs) // the method's label, round after round
		if err != nil {
			return errors.Join(cleanupErrs...), &Error{Kind: KindDNS, Err: fmt.Errorf("preparing DNS records: %w", err)}
		}
		if method == acme.ChallengeDNS01 {
			b.AttachDetails(det)
		}
		cerr, err := e.solve(ctx, client, acct, round, b, solver)
		cleanupErrs = append(cleanupErrs, cerr)
		if err != nil {
			return errors.Join(cleanupErrs...), err
		}
	}
	return errors.Join(cleanupErrs...), nil
}

// solve publishes one prepared batch, validates its authorizations and
// removes its records, whatever happened (a failed removal is cleanupErr).
func (e *Engine) solve(ctx context.Context, client *acme.Client, acct acme.Account, pending []pendingAuthz, batch *dns01.Batch, solver *dns01.Solver) (cleanupErr, err error) {
	defer func() {
		cctx, cancel := detached(ctx)
		defer cancel()
		e.observe(cctx, progress.Event{Stage: progress.CleaningUp, Detail: "removing challenge records"})
		if err := solver.CleanUp(cctx, batch); err != nil {
			cleanupErr = fmt.Errorf("removing challenge records: %w", err)
			e.log.LogAttrs(cctx, slog.LevelWarn, "removing challenge records", errAttr(err))
			e.observe(cctx, progress.Event{Stage: progress.CleaningUp, Err: err})
		}
	}()
	// Waiting past the first authorization's expiry is pointless.
	var deadline time.Time
	for _, p := range pending {
		if !p.expires.IsZero() && (deadline.IsZero() || p.expires.Before(deadline)) {
			deadline = p.expires
		}
	}
	if err := solver.Publish(ctx, batch, deadline); err != nil {
		return nil, &Error{Kind: KindDNS, Err: fmt.Errorf("publishing DNS records: %w", err)}
	}
	return nil, e.validateAll(ctx, client, acct, pending)
}

// validateAll answers every pending challenge at once and waits for the
// CA's verdicts.
func (e *Engine) validateAll(ctx context.Context, client *acme.Client, acct acme.Account, pending []pendingAuthz) error {
	vctx, cancel := context.WithTimeout(ctx, validationTimeout)
	defer cancel()
	errs := make([]error, len(pending))
	var wg sync.WaitGroup
	for i, p := range pending {
		wg.Go(func() { errs[i] = e.validate(vctx, client, acct, p) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return &Error{Kind: KindCA, Err: err}
	}
	return nil
}

// validate answers one challenge and polls its authorization until the CA
// decides.
func (e *Engine) validate(ctx context.Context, client *acme.Client, acct acme.Account, p pendingAuthz) error {
	e.observe(ctx, progress.Event{Stage: progress.Validating, Identifier: p.identifier})
	if _, err := client.AcceptChallenge(ctx, acct, p.challenge.URL); err != nil {
		e.observe(ctx, progress.Event{Stage: progress.Invalid, Identifier: p.identifier, Err: err})
		return fmt.Errorf("%s: answering challenge: %w", p.identifier, err)
	}
	if _, err := client.PollAuthorization(ctx, acct, p.authzURL); err != nil {
		e.observe(ctx, progress.Event{Stage: progress.Invalid, Identifier: p.identifier, Err: err})
		return fmt.Errorf("%s: %w", p.identifier, err)
	}
	e.observe(ctx, progress.Event{Stage: progress.Valid, Identifier: p.identifier})
	return nil
}

// pendingAuthorizations fetches the order's authorizations concurrently; valid ones (the
// CA may reuse earlier validations) need nothing. Each identifier must be
// one of the order's normalized domains: those are what dns01 publishes
// for, and it does not normalize again.
func (e *Engine) pendingAuthorizations(ctx context.Context, client *acme.Client, acct acme.Account, order acme.Order, domains []string) ([]pendingAuthz, error) {
	// Fetched all at once: an order of many names pays one round trip.
	authzs := make([]acme.Authorization, len(order.Authorizations))
	errs := make([]error, len(order.Authorizations))
	var wg sync.WaitGroup
	for i, u := range order.Authorizations {
		wg.Go(func() { authzs[i], errs[i] = client.GetAuthorization(ctx, acct, u) })
	}
	wg.Wait()
	var out []pendingAuthz
	for i, u := range order.Authorizations {
		az, err := authzs[i], errs[i]
		if err != nil {
			return nil, caErr("fetching authorization", err)
		}
		id := az.Identifier.Value
		if az.Wildcard {
			id = "*." + id
		}
		i := slices.IndexFunc(domains, func(d string) bool { return strings.EqualFold(d, id) })
		if i < 0 {
			return nil, kindErr(KindCA, "the CA asks to authorize %q, which is not in the order", id)
		}
		id = domains[i]
		switch az.Status {
		case acme.StatusValid:
			e.observe(ctx, progress.Event{Stage: progress.Valid, Identifier: id, Detail: "already authorized"})
			continue
		case acme.StatusPending:
		default:
			return nil, kindErr(KindCA, "authorization for %s is %s", id, az.Status)
		}
		out = append(out, pendingAuthz{identifier: id, authzURL: u, authz: az, expires: az.Expires})
	}
	return out, nil
}

// checkLeaf makes sure the CA issued what was asked: the leaf certifies our
// key and every requested name.
func checkLeaf(chain acme.Certificate, key crypto.Signer, domains []string) error {
	leaf := chain.Leaf()
	if leaf == nil {
		return errors.New("the CA sent no certificate")
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return errors.New("the issued certificate is not for our key")
	}
	for _, d := range domains {
		if !slices.Contains(leaf.DNSNames, d) {
			return fmt.Errorf("the issued certificate lacks %s", d)
		}
	}
	return nil
}
