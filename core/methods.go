package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/progress"
)

// ChallengeAuto lets the engine choose the validation method: dns-persist-01
// when a valid standing record is in place and the CA offers it, dns-01
// otherwise. It is the default.
const ChallengeAuto = "auto"

// Challenges lists the accepted Request.Challenge values, the default first.
func Challenges() []string {
	return []string{ChallengeAuto, acme.ChallengeDNS01, acme.ChallengeDNSAccount01, acme.ChallengeDNSPersist01}
}

// ParseChallenge validates a validation method name.
func ParseChallenge(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return ChallengeAuto, nil
	}
	if !slices.Contains(Challenges(), s) {
		return "", fmt.Errorf("unknown challenge %q (want one of %s)", s, strings.Join(Challenges(), ", "))
	}
	return s, nil
}

// needsProvider: every method but dns-persist-01 writes records.
func needsProvider(method string) bool {
	return method == acme.ChallengeDNS01 || method == acme.ChallengeDNSAccount01
}

func (e *Engine) persistChecker(req Request) (*dns01.PersistChecker, error) {
	return dns01.NewPersistChecker(dns01.Config{
		Resolvers: req.Resolvers, NameserverPort: req.NameserverPort, ZoneOverrides: req.Zones, Logger: e.log,
	})
}

// checkPersist asks every authoritative server for the dns-persist-01
// records of domains. The error (KindDNS) names each name server that
// lacks an authorizing record and why: issuer, account URI, policy or
// persistUntil.
func (e *Engine) checkPersist(ctx context.Context, req Request, domains, issuers []string, accountURI string) error {
	c, err := e.persistChecker(req)
	if err != nil {
		return &Error{Kind: KindInput, Err: err}
	}
	_, err = c.Check(ctx, domains, dns01.PersistWant{Issuers: issuers, AccountURI: accountURI, At: e.now()})
	if err != nil {
		return &Error{Kind: KindDNS, Err: fmt.Errorf("checking dns-persist-01 records: %w", err)}
	}
	return nil
}

// chooseMethod settles the method before the order is placed, once the
// account URI is known: dns-persist-01 needs every authoritative server to
// serve a record for this account, checked against the CA's CAA identities
// (its issuer domain names). auto takes dns-persist-01 when that holds and
// dns-01 otherwise, or fails with the reason when there is no provider to
// fall back on.
func (e *Engine) chooseMethod(ctx context.Context, req Request, dir acme.Directory, acct acme.Account) (string, error) {
	if req.Challenge != acme.ChallengeDNSPersist01 && req.Challenge != ChallengeAuto {
		return req.Challenge, nil
	}
	err := e.checkPersist(ctx, req, req.Domains, dir.Meta.CAAIdentities, acct.URL)
	switch {
	case err == nil:
		e.observe(ctx, progress.Event{Stage: progress.Account, Detail: "dns-persist-01 records in place"})
		return acme.ChallengeDNSPersist01, nil
	case req.Challenge == ChallengeAuto && e.provider != nil && !errors.Is(err, context.Canceled):
		// auto's ordinary case (most names have no standing record):
		// debug, not news.
		e.log.LogAttrs(ctx, slog.LevelDebug, "no usable dns-persist-01 record; using dns-01", slog.String("reason", err.Error()))
		return acme.ChallengeDNS01, nil
	case req.Challenge == ChallengeAuto:
		err = fmt.Errorf("no DNS provider configured, so only dns-persist-01 can work: %w", err)
	}
	if KindOf(err) == KindDNS && len(dir.Meta.CAAIdentities) > 0 {
		err = &Error{Kind: KindDNS, Err: fmt.Errorf("%w; needed: %s", err, neededPersist(req.Domains, dir.Meta.CAAIdentities[0], acct.URL))}
	}
	return "", err
}

// neededPersist spells out the records that would authorize domains.
func neededPersist(domains []string, issuer, accountURI string) string {
	var out []string
	for _, d := range domains {
		base := strings.TrimPrefix(d, "*.")
		rec := acme.PersistRecord{Issuer: issuer, AccountURI: accountURI, Wildcard: slices.Contains(domains, "*."+base)}
		name, err := dns01.PersistName(base)
		if err != nil {
			continue
		}
		line := fmt.Sprintf("%s TXT %q", name, rec.String())
		if !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	return strings.Join(out, ", ")
}

// pickChallenges sets each pending authorization's challenge of method. A
// method the CA does not offer is an error, except that dns-persist-01
// chosen by auto falls back to dns-01 when a provider is there.
func (e *Engine) pickChallenges(ctx context.Context, pending []pendingAuthz, method string, auto bool) (string, error) {
	if auto && method == acme.ChallengeDNSPersist01 && e.provider != nil {
		for _, p := range pending {
			if _, ok := p.authz.Challenge(method); !ok {
				e.log.LogAttrs(ctx, slog.LevelInfo, "the CA offers no dns-persist-01 challenge; using dns-01", slog.String("identifier", p.identifier))
				method = acme.ChallengeDNS01
				break
			}
		}
	}
	for i := range pending {
		p := &pending[i]
		ch, ok := p.authz.Challenge(method)
		if !ok {
			offered := make([]string, 0, len(p.authz.Challenges))
			for _, c := range p.authz.Challenges {
				offered = append(offered, c.Type)
			}
			return "", kindErr(KindCA, "the CA does not offer %s for %s (it offers %s)", method, p.identifier, strings.Join(offered, ", "))
		}
		p.challenge = ch
	}
	return method, nil
}

// authorizePersist answers dns-persist-01 challenges: no record is written.
// The record was checked against the CA's CAA identities before the order;
// if the challenges name other issuers or another account URI, it is
// checked again against what they say.
func (e *Engine) authorizePersist(ctx context.Context, client *acme.Client, acct acme.Account, pending []pendingAuthz,
	req Request, checkedIssuers []string) error {
	var issuers []string
	accountURI := acct.URL
	ids := make([]string, 0, len(pending))
	for _, p := range pending {
		for _, n := range p.challenge.IssuerDomainNames {
			if !slices.Contains(issuers, n) {
				issuers = append(issuers, n)
			}
		}
		if p.challenge.AccountURI != "" {
			accountURI = p.challenge.AccountURI
		}
		ids = append(ids, p.identifier)
		e.observe(ctx, progress.Event{Stage: progress.Pending, Identifier: p.identifier, Detail: acme.ChallengeDNSPersist01})
	}
	if accountURI != acct.URL || !sameSet(issuers, checkedIssuers) {
		if err := e.checkPersist(ctx, req, ids, issuers, accountURI); err != nil {
			return err
		}
	}
	return e.validateAll(ctx, client, acct, pending)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
