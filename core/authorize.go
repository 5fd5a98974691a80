package core

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
)

// pendingAuthz is one authorization that needs its dns-01 challenge solved.
type pendingAuthz struct {
	identifier string // "*." kept for wildcards, as in the order
	authzURL   string
	challenge  acme.Challenge
	expires    time.Time
}

// authorize solves every pending authorization of the order: all records go
// to the provider in one batch per zone and a single wait covers them all
// (a wildcard and its apex make one round trip, not two). Only then are the
// challenges answered (RFC 8555 §7.5.1) and the authorizations polled.
// The records are removed before authorize returns, whatever happened.
func (e *Engine) authorize(ctx context.Context, client *acme.Client, acct acme.Account, order acme.Order, solver *dns01.Solver) error {
	pending, err := e.pendingAuthorizations(ctx, client, acct, order)
	if err != nil || len(pending) == 0 {
		return err
	}
	challenges := make([]dns01.Challenge, 0, len(pending))
	for _, p := range pending {
		ka, err := acme.KeyAuthorization(acct.Key, p.challenge.Token)
		if err != nil {
			return fmt.Errorf("key authorization: %w", err)
		}
		challenges = append(challenges, dns01.Challenge{Identifier: p.identifier, Value: acme.DNS01Value(ka)})
		e.observe(p.identifier, StagePending, "dns-01", nil)
	}
	batch, err := solver.Prepare(ctx, challenges)
	if err != nil {
		return &Error{Kind: KindDNS, Err: fmt.Errorf("preparing DNS records: %w", err)}
	}
	defer func() {
		cctx, cancel := detached(ctx)
		defer cancel()
		e.observe("", StageCleanup, "removing challenge records", nil)
		if err := solver.CleanUp(cctx, batch); err != nil {
			e.log.Warn("removing challenge records", "error", err)
			e.observe("", StageCleanup, "", err)
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
		return &Error{Kind: KindDNS, Err: fmt.Errorf("publishing DNS records: %w", err)}
	}

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
	e.observe(p.identifier, StageValidating, "", nil)
	if _, err := client.AcceptChallenge(ctx, acct, p.challenge.URL); err != nil {
		e.observe(p.identifier, StageInvalid, "", err)
		return fmt.Errorf("%s: answering challenge: %w", p.identifier, err)
	}
	if _, err := client.PollAuthorization(ctx, acct, p.authzURL); err != nil {
		e.observe(p.identifier, StageInvalid, "", err)
		return fmt.Errorf("%s: %w", p.identifier, err)
	}
	e.observe(p.identifier, StageValid, "", nil)
	return nil
}

// pendingAuthorizations fetches the order's authorizations; valid ones (the
// CA may reuse earlier validations) need nothing.
func (e *Engine) pendingAuthorizations(ctx context.Context, client *acme.Client, acct acme.Account, order acme.Order) ([]pendingAuthz, error) {
	var out []pendingAuthz
	for _, u := range order.Authorizations {
		az, err := client.GetAuthorization(ctx, acct, u)
		if err != nil {
			return nil, caErr("fetching authorization", err)
		}
		id := az.Identifier.Value
		if az.Wildcard {
			id = "*." + id
		}
		switch az.Status {
		case acme.StatusValid:
			e.observe(id, StageValid, "already authorized", nil)
			continue
		case acme.StatusPending:
		default:
			return nil, kindErr(KindCA, "authorization for %s is %s", id, az.Status)
		}
		ch, ok := az.Challenge(acme.ChallengeDNS01)
		if !ok {
			return nil, kindErr(KindCA, "the CA offers no dns-01 challenge for %s", id)
		}
		out = append(out, pendingAuthz{identifier: id, authzURL: u, challenge: ch, expires: az.Expires})
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

// dnsObserver turns dns01 progress into engine events.
type dnsObserver struct{ e *Engine }

func (o dnsObserver) DNSProgress(_ context.Context, p dns01.Progress) {
	switch p.Stage {
	case dns01.StagePublishing:
		o.e.observe(p.Identifier, StagePublishing, p.FQDN+" in zone "+p.Zone, nil)
	case dns01.StageSyncing:
		o.e.observe(p.Identifier, StagePublishing, "provider syncing", nil)
	case dns01.StageWaiting:
		o.e.observe(p.Identifier, StagePropagating, fmt.Sprintf("%d/%d nameserver addresses", p.Ready, p.Total), nil)
	case dns01.StagePropagated:
		o.e.observe(p.Identifier, StagePropagating, "visible everywhere", nil)
	case dns01.StageCleaningUp:
		o.e.observe(p.Identifier, StageCleanup, "removing record", nil)
	case dns01.StageCleanedUp:
		o.e.observe(p.Identifier, StageCleanup, "record removed", nil)
	case dns01.StageFailed:
		o.e.observe(p.Identifier, StageInvalid, "DNS", p.Err)
	}
}
