package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/plugin"
)

// DefaultMaxConcurrent bounds the orders in flight at once, of one renew
// run and of the daemon (daemon.max_concurrent). An order in flight mostly
// waits on DNS (propagation, a lagging secondary) and costs a goroutine and
// a few hundred KiB; the CA is protected by the newOrder bound, the order
// gate and Retry-After, not by this one. A high bound is what lets the
// records of many orders for one zone join one provider call: with 4, a
// storm of 200 certificates behind a secondary lagging 4 s ran at under one
// a second and 20 certificates of one zone took 30 UPDATEs. An order lasts
// a few seconds however fast the machine (a secondary's lag, the CA's
// Retry-After), so this bound caps a storm at about itself over that (the
// README's config reference has the storm figures).
const DefaultMaxConcurrent = 400

// RenewConfig is one `renew` run.
type RenewConfig struct {
	// Config is the engine's configuration; its Provider and Observer are
	// unused (each lineage gets its own from Prepare and Observer).
	Config
	// Names are the lineages to consider; empty means all.
	Names []string
	// Force renews every selected lineage whether due or not.
	Force bool
	// DryRun orders every selected lineage (see Request.DryRun), stores
	// nothing, and lists the hooks without running them.
	DryRun bool
	// MaxConcurrent bounds renewals in flight; 0 means DefaultMaxConcurrent.
	MaxConcurrent int
	// Hooks run around the renewals; nil runs none.
	Hooks *Hooks
	// Prepare turns the plan of a due lineage into its request (this run's
	// overrides applied) and a provider to publish with. It is called only
	// for due lineages, so a renew with nothing due starts no plugin.
	Prepare func(ctx context.Context, p Plan) (Request, plugin.Provider, error)
	// Observer returns the progress observer of one lineage; nil ignores.
	Observer func(certName string) progress.Observer
	// Listed receives what a dry run would run (hooks); nil drops it.
	Listed func(certName string, kind HookKind, command string)
}

// RenewResult is the outcome for one lineage, as `renew --json` prints it.
type RenewResult struct {
	Name      string    `json:"name"`
	Renewed   bool      `json:"renewed"`
	Reason    Reason    `json:"reason"`
	Replaces  string    `json:"replaces,omitempty"`
	NextCheck time.Time `json:"next_check,omitzero"`
	Error     string    `json:"error,omitempty"`

	// RenewAt is when a lineage that is not due will be.
	RenewAt time.Time `json:"-"`
	// Result is the new certificate of a renewed lineage.
	Result *Result `json:"-"`
	// Err is the failure; errors.Is(Err, ErrHook) for a failed hook after a
	// renewal that stands.
	Err error `json:"-"`
}

// Renew renews every selected lineage that is due (see Checker), up to
// MaxConcurrent at once; one failing does not stop the others. The pre
// hook runs once before the first renewal and the post hook once after the
// last, both only when something is due; deploy hooks after each renewal.
//
// The error is for the run as a whole: an unknown name or a broken pre or
// post hook, found before anything changes. Per-lineage failures are in
// the results.
func Renew(ctx context.Context, cfg RenewConfig) ([]RenewResult, error) {
	if cfg.Storage == nil || cfg.Prepare == nil {
		return nil, errors.New("core: renew needs storage and Prepare")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hooks := cfg.Hooks
	if hooks == nil {
		hooks = &Hooks{}
	}
	names := cfg.Names
	if len(names) == 0 {
		var err error
		if names, err = Lineages(ctx, cfg.Storage); err != nil {
			return nil, err
		}
	} else {
		names = slices.Compact(slices.Sorted(slices.Values(names)))
		for _, n := range names {
			if _, err := LoadPlan(ctx, cfg.Storage, n); errors.Is(err, ErrNoLineage) {
				return nil, kindErr(KindInput, "no certificate named %q has a renewal plan (see zonecert certificates)", n)
			}
		}
	}
	// Broken run-wide hooks are refused before anything is ordered.
	pre, err := hooks.Commands(HookPre, hooks.Pre)
	if err != nil {
		return nil, &Error{Kind: KindInput, Err: err}
	}
	post, err := hooks.Commands(HookPost, hooks.Post)
	if err != nil {
		return nil, &Error{Kind: KindInput, Err: err}
	}
	if _, err := hooks.Commands(HookDeploy, ""); err != nil {
		return nil, &Error{Kind: KindInput, Err: err}
	}

	checker, err := NewChecker(cfg.Config, cfg.DryRun)
	if err != nil {
		return nil, err
	}
	limit := cfg.MaxConcurrent
	if limit <= 0 {
		limit = DefaultMaxConcurrent
	}
	results := make([]RenewResult, len(names))
	decisions := make([]Decision, len(names))
	forEach(len(names), max(limit, 8), func(i int) {
		r := &results[i]
		r.Name = names[i]
		p, err := LoadPlan(ctx, cfg.Storage, names[i])
		if err == nil {
			decisions[i], err = checker.Check(ctx, p, cfg.Force || cfg.DryRun)
		}
		d := decisions[i]
		r.Reason, r.Replaces, r.NextCheck, r.RenewAt = d.Reason, d.Replaces, d.NextCheck, d.RenewAt
		if err == nil && d.Due {
			// A deploy hook that cannot run would leave the new
			// certificate unused: refuse before ordering.
			if _, herr := hooks.Commands(HookDeploy, p.DeployHook); herr != nil {
				err = &Error{Kind: KindInput, Err: herr}
			}
		}
		if err != nil {
			r.Err, r.NextCheck = err, time.Time{}
			decisions[i].Due = false
		}
	})
	var due []int
	for i, d := range decisions {
		if d.Due {
			due = append(due, i)
		}
	}
	if len(due) == 0 {
		return results, nil
	}

	if cfg.DryRun {
		for _, c := range pre {
			cfg.listed("", HookPre, c)
		}
	} else if err := hooks.Run(ctx, HookPre, hooks.Pre); err != nil {
		for _, i := range due {
			results[i].Err = fmt.Errorf("not renewed: %w", err)
		}
		return results, nil
	}
	if cfg.LiveOwners == nil {
		cfg.LiveOwners = &LiveOwners{} // one per run: its orders know each other alive
	}
	forEach(len(due), limit, func(j int) {
		i := due[j]
		renewOne(ctx, cfg, hooks, decisions[i], &results[i])
	})
	if cfg.DryRun {
		for _, c := range post {
			cfg.listed("", HookPost, c)
		}
	} else if err := hooks.Run(context.WithoutCancel(ctx), HookPost, hooks.Post); err != nil {
		log.LogAttrs(ctx, slog.LevelError, "post hook failed", errAttr(err))
		for _, i := range due {
			if results[i].Err == nil {
				results[i].Err = err
			}
		}
	}
	return results, nil
}

func (cfg *RenewConfig) listed(name string, kind HookKind, cmd string) {
	if cfg.Listed != nil {
		cfg.Listed(name, kind, cmd)
	}
}

// renewOne orders one due lineage's certificate and runs its deploy hooks.
func renewOne(ctx context.Context, cfg RenewConfig, hooks *Hooks, d Decision, r *RenewResult) {
	p := d.Plan
	req, prov, err := cfg.Prepare(ctx, p)
	if err != nil {
		r.Err = err
		return
	}
	req.Renewing = &p
	req.DryRun = cfg.DryRun
	if req.DirectoryURL == p.Directory {
		req.Replaces = d.Replaces
	} else {
		req.Replaces = "" // another CA (a dry run on staging) never saw it
	}
	ecfg := cfg.Config
	ecfg.Provider = prov
	if cfg.Observer != nil {
		ecfg.Observer = cfg.Observer(p.Name)
	}
	eng, err := New(ecfg)
	if err != nil {
		r.Err = err
		return
	}
	res, err := eng.Obtain(ctx, req)
	if err != nil {
		r.Err = err
		return
	}
	r.Renewed, r.Result, r.Replaces = !cfg.DryRun, res, res.Replaces
	lifetime := res.NotAfter.Sub(res.NotBefore)
	r.NextCheck = res.NotAfter.Add(-lifetime / 3)
	if cfg.DryRun {
		cmds, _ := hooks.Commands(HookDeploy, p.DeployHook)
		for _, c := range cmds {
			cfg.listed(p.Name, HookDeploy, c)
		}
		return
	}
	if err := hooks.Deploy(ctx, p.DeployHook, filepath.Dir(res.Files.FullChain), res.Domains); err != nil {
		r.Err = err
	}
}

// forEach calls fn(0..n-1) with at most limit calls in flight.
func forEach(n, limit int, fn func(i int)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}
