package core

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/preflight"
)

// Preflighter checks, before newOrder, that nothing in DNS would surely
// fail the order (preflight.Checker implements it). A non-nil error stops
// the order before the CA sees it.
type Preflighter interface {
	Preflight(ctx context.Context, t preflight.Target) error
}

// preflight runs Config.Preflight, if set, for the order about to be
// placed. Its failure is KindDNS (exit 4) and wraps preflight.Problems.
func (e *Engine) preflight(ctx context.Context, req Request, method string, dir acme.Directory, acct acme.Account) error {
	if e.pre == nil || req.Wait != dns01.WaitAuthoritative {
		// A fixed or no wait is for name servers this host cannot reach;
		// the checks would ask exactly those.
		return nil
	}
	start := e.now()
	err := e.pre.Preflight(ctx, preflight.Target{
		Domains: req.Domains, Method: method, AccountURI: acct.URL, CAAIdentities: dir.Meta.CAAIdentities,
		Aliases: req.ChallengeAliases, Zones: req.Zones, PropagationTimeout: req.PropagationTimeout,
		Resolvers: req.Resolvers, NameserverPort: req.NameserverPort,
	})
	e.log.LogAttrs(ctx, slog.LevelDebug, "preflight", slog.Duration("took", e.now().Sub(start)), slog.Bool("ok", err == nil))
	if err != nil {
		return &Error{Kind: KindDNS, Err: fmt.Errorf("preflight: this order would fail, so it was not placed: %w", err)}
	}
	return nil
}
