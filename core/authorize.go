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
// The records are removed before authorize returns, whatever happened.
//
// The method (see chooseMethod) decides the record: dns-01 and
// dns-account-01 publish the same value under different labels;
// dns-persist-01 publishes nothing (authorizePersist). It returns the
// method used, which differs from method only when auto's dns-persist-01
// falls back to dns-01.
func (e *Engine) authorize(ctx context.Context, client *acme.Client, acct acme.Account, order acme.Order, solver *dns01.Solver,
	req Request, method string, checkedIssuers []string) (string, error) {
	pending, err := e.pendingAuthorizations(ctx, client, acct, order)
	if err != nil || len(pending) == 0 {
		return method, err
	}
	if method, err = e.pickChallenges(pending, method, req.Challenge == ChallengeAuto); err != nil {
		return "", err
	}
	if method == acme.ChallengeDNSPersist01 {
		return method, e.authorizePersist(ctx, client, acct, pending, req, checkedIssuers)
	}
	if solver == nil {
		return "", kindErr(KindInput, "%s needs a DNS provider", method)
	}
	label := dns01.ChallengeLabel
	if method == acme.ChallengeDNSAccount01 {
		label = dns01.AccountChallengeLabel(acme.DNSAccountLabel(acct.URL))
	}
	return method, e.publishAndValidate(ctx, client, acct, pending, solver, method, label)
}

// publishAndValidate publishes one record per pending authorization under
// label, waits for every authoritative server, and has the CA validate.
func (e *Engine) publishAndValidate(ctx context.Context, client *acme.Client, acct acme.Account, pending []pendingAuthz,
	solver *dns01.Solver, method, label string) error {
	challenges := make([]dns01.Challenge, 0, len(pending))
	for _, p := range pending {
		ka, err := acme.KeyAuthorization(acct.Key, p.challenge.Token)
		if err != nil {
			return fmt.Errorf("key authorization: %w", err)
		}
		challenges = append(challenges, dns01.Challenge{Identifier: p.identifier, Value: acme.DNS01Value(ka)})
		e.observe(p.identifier, StagePending, method, nil)
	}
	batch, err := solver.PrepareLabel(ctx, label, challenges)
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
	return e.validateAll(ctx, client, acct, pending)
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
