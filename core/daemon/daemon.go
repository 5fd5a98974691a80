// Package daemon keeps many certificates from one configuration alive in
// one long-lived process (`zonecert run`): a scheduler, named provider
// instances with one plugin process each, a zone router so one order can
// span providers, reloads that swap a whole validated configuration, and
// Prometheus metrics.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/core/storage"
)

// Options are what the daemon needs from the process.
type Options struct {
	// Launch starts provider plugins; required.
	Launch Launch
	// Logger gets the daemon's records; nil discards.
	Logger *slog.Logger
	// LookupEnv is the process environment: plugins get their base
	// variables from it, hooks PATH and HOME. Nil means none.
	LookupEnv func(string) (string, bool)
	// HTTPClient builds the client that talks to the CA, trusting caBundle
	// (a PEM file) if set. Nil means a default client.
	HTTPClient func(caBundle string) (*http.Client, error)
	// Hooks runs the certificates' hooks (and <state>/renewal-hooks); nil
	// runs none.
	Hooks *core.Hooks
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AllowInsecureHTTP permits an http:// ACME directory (tests only).
	AllowInsecureHTTP bool
	// Storage is the state store (cmd/zonecert/storage.go chooses it);
	// nil means the FS directory cfg.State.
	Storage storage.Storage
}

// Daemon runs the scheduler over one configuration at a time.
type Daemon struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	m     *metrics
	store storage.Storage
	reads *snapStore // store for checks: first looks from a snapshot (snapshot.go)
	hooks *core.Hooks
	gate  gate
	sched *scheduler
	fleet *fleetMetrics // fleet.go
	// leases: whether the store has leases, so fleet rules apply (fleetgate.go).
	leases leases

	mu       sync.Mutex
	gen      *generation
	failures map[string]int // consecutive failures per certificate
	pre      *preflightState
	owners   *core.LiveOwners // the owners of the orders in flight, shared by their engines
}

// generation is one applied configuration and what was built from it.
type generation struct {
	cfg     *config.Config
	insts   map[string]*instance
	http    *http.Client
	checker *core.Checker // the lifecycle's renewal check, with this CA client
	acme    *acme.Client  // one per CA: every order shares its nonces and connections
	dns     *dns01.Shared // name server answers shared by every order
}

// New builds a daemon for cfg. It starts nothing: plugins start on first use.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	if opts.Launch == nil {
		return nil, errors.New("daemon: Options.Launch is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = func(string) (string, bool) { return "", false }
	}
	store := opts.Storage
	if store == nil {
		fs, err := storage.NewFS(cfg.State)
		if err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
		store = fs
	}
	d := &Daemon{opts: opts, log: opts.Logger, now: opts.Now, m: newMetrics(),
		store: store, hooks: opts.Hooks, failures: map[string]int{}, owners: &core.LiveOwners{}}
	d.reads = newSnapStore(store, func() time.Duration { return d.current().cfg.Daemon.CheckInterval }, d.now)
	d.pre = newPreflightState(d.m.reg)
	d.fleet = newFleetMetrics(d.m.reg)
	g, err := d.build(cfg, nil)
	if err != nil {
		return nil, err
	}
	d.gen = g
	d.sched = newScheduler(cfg.Daemon.MaxConcurrent, d.now, d.check)
	d.m.scheduled.Set(float64(len(cfg.Certificates)))
	return d, nil
}

// build prepares a generation for cfg, reusing the running instances of
// old whose definition did not change.
func (d *Daemon) build(cfg *config.Config, old *generation) (*generation, error) {
	var client *http.Client
	if d.opts.HTTPClient != nil {
		c, err := d.opts.HTTPClient(cfg.ACME.CABundle)
		if err != nil {
			return nil, err
		}
		client = c
	}
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	c := *client
	tr := newCATransport(client.Transport, d.m)
	c.Transport = tr
	g := &generation{cfg: cfg, insts: map[string]*instance{}, http: &c}
	if err := d.share(g); err != nil {
		return nil, err
	}
	tr.fleet = &fleetGate{store: d.store, ca: digest(cfg.ACME.DirectoryURL), slots: cfg.Daemon.FleetNewOrderConcurrency,
		leases: &d.leases, now: d.now, waited: func(w time.Duration) { d.m.gateWait.WithLabelValues("fleet-new-order").Add(w.Seconds()) }}
	tr.newOrderURL = func(ctx context.Context) (string, error) {
		dir, err := g.acme.Directory(ctx)
		return dir.NewOrder, err
	}
	chk, err := core.NewChecker(core.Config{Storage: d.reads, HTTPClient: g.http, Logger: d.log,
		Now: d.now, AllowInsecureHTTP: d.opts.AllowInsecureHTTP, ACME: g.acme}, false)
	if err != nil {
		return nil, err
	}
	g.checker = chk
	for name, def := range cfg.Providers {
		if old != nil {
			// A plugin that was given the resolvers restarts when they change.
			if inst, ok := old.insts[name]; ok && inst.def.Equal(def) && slices.Equal(inst.resolvers, cfg.DNS.Resolvers) {
				g.insts[name] = inst
				continue
			}
		}
		g.insts[name] = newInstance(def, cfg.PluginDirs, cfg.DNS.Resolvers, d.opts.LookupEnv, d.opts.Launch, d.log)
	}
	return g, nil
}

func (d *Daemon) current() *generation {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen
}

// Handler serves /metrics (Prometheus) and /healthz (200 while the
// scheduler loop is alive, else 503).
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.sched.alive() {
			http.Error(w, "scheduler not running", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok: %d certificates\n", d.sched.length())
	})
	return mux
}

// Run schedules every certificate (missing ones are obtained at once) and
// keeps them renewed until ctx ends. Then no new order starts; running
// orders get the configuration's stop_timeout to finish, after which they
// are cancelled (their records are still removed, with a detached
// context). Plugins are stopped before Run returns. ready is called once
// the scheduler runs.
func (d *Daemon) Run(ctx context.Context, ready func()) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	now := d.now()
	for _, c := range d.current().cfg.Certificates {
		d.sched.schedule(c.Name, now)
	}
	loopDone := make(chan struct{})
	go func() {
		d.sched.run(ctx, work)
		close(loopDone)
	}()
	if ready != nil {
		ready()
	}
	<-loopDone
	g := d.current()
	d.log.LogAttrs(ctx, slog.LevelInfo, "stopping: no new orders; waiting for running ones",
		slog.Duration("stop_timeout", g.cfg.Daemon.StopTimeout))
	tctx, cancel := context.WithTimeout(context.Background(), g.cfg.Daemon.StopTimeout)
	defer cancel()
	if !d.sched.waitIdle(tctx) {
		d.log.LogAttrs(ctx, slog.LevelWarn, "stop timeout: cancelling running orders (their records are still removed)")
		cancelWork()
		d.sched.waitIdle(context.Background())
	}
	d.mu.Lock()
	insts := d.gen.insts
	d.mu.Unlock()
	for _, inst := range insts {
		inst.retire()
	}
	return nil
}

// Reload swaps in cfg: certificates added are checked at once, removed
// ones leave the schedule (a running order finishes), and provider
// instances whose definition changed get a new plugin process (the old one
// stops when its last order ends). The running configuration is never
// modified. The state directory cannot change without a restart.
func (d *Daemon) Reload(cfg *config.Config) error {
	d.mu.Lock()
	old := d.gen
	if cfg.State != old.cfg.State {
		d.mu.Unlock()
		d.m.reloads.WithLabelValues("refused").Inc()
		return errors.New("state cannot change on reload: restart zonecert")
	}
	g, err := d.build(cfg, old)
	if err != nil {
		d.mu.Unlock()
		d.m.reloads.WithLabelValues("refused").Inc()
		return err
	}
	d.gen = g
	d.mu.Unlock()
	for name, inst := range old.insts {
		if g.insts[name] != inst {
			inst.retire()
		}
	}
	d.sched.setSlots(cfg.Daemon.MaxConcurrent)
	now := d.now()
	for _, c := range old.cfg.Certificates {
		if _, ok := cfg.Certificate(c.Name); !ok {
			d.sched.remove(c.Name)
			d.m.notAfter.DeleteLabelValues(c.Name)
			d.mu.Lock()
			delete(d.failures, c.Name)
			d.mu.Unlock()
		}
	}
	added := 0
	for _, c := range cfg.Certificates {
		if prev, ok := old.cfg.Certificate(c.Name); !ok || !prev.Equal(c) {
			d.sched.schedule(c.Name, now)
			added++
		}
	}
	d.m.scheduled.Set(float64(len(cfg.Certificates)))
	d.m.reloads.WithLabelValues("applied").Inc()
	d.log.LogAttrs(context.Background(), slog.LevelInfo, "configuration reloaded",
		slog.Int("certificates", len(cfg.Certificates)), slog.Int("new_or_changed", added))
	return nil
}

// RefusedReload counts a reload whose configuration did not validate.
func (d *Daemon) RefusedReload() { d.m.reloads.WithLabelValues("refused").Inc() }

// later adds the configured jitter to t, so restarts and reloads do not
// make every certificate's check coincide.
func (d *Daemon) later(g *generation, t time.Time) time.Time {
	if j := g.cfg.Daemon.Jitter; j > 0 {
		t = t.Add(rand.N(j))
	}
	return t
}

// check is the scheduler's work for one certificate: decide whether it is
// due, order it if so, and say when to look again.
func (d *Daemon) check(ctx context.Context, name string) time.Time {
	g := d.current()
	cert, ok := g.cfg.Certificate(name)
	now := d.now()
	if !ok {
		return now // removed by a reload meanwhile; the scheduler drops it
	}
	log := d.log.With("cert", name)
	due, err := d.due(snapshotReads(ctx), g, cert)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "checking certificate", slog.String("error", err.Error()))
		return d.backoff(g, name, now)
	}
	if !due.NotAfter.IsZero() {
		d.m.notAfter.WithLabelValues(name).Set(float64(due.NotAfter.Unix()))
	}
	if due.At.After(now) {
		return d.nextCheck(g, due, now)
	}
	if ctx.Err() != nil {
		return now
	}
	key := accountKey(g.cfg.ACME.DirectoryURL, g.cfg.ACME.Email)
	if until := maxTime(d.gate.blockedUntil(key), d.fleetBlockedUntil(ctx, key, log)); until.After(now) {
		log.LogAttrs(ctx, slog.LevelInfo, "CA asked to wait; order postponed", slog.Time("until", until))
		return until
	}
	claimed, release, next, ok := d.claim(ctx, g, name, log)
	if !ok {
		return next
	}
	defer release()
	// Another daemon of the fleet may have ordered it meanwhile.
	if due, ok, err = d.stillDue(ctx, g, cert); err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "checking certificate", slog.String("error", err.Error()))
		return d.backoff(g, name, now)
	} else if !ok {
		// Ordered by another daemon since the first look: record its expiry
		// as for any stored certificate, or this daemon's gauge misses it
		// until its next check (up to check_interval).
		if !due.NotAfter.IsZero() {
			d.m.notAfter.WithLabelValues(name).Set(float64(due.NotAfter.Unix()))
		}
		return d.nextCheck(g, due, d.now())
	}
	_, err = d.order(claimed, g, cert, due)
	now = d.now()
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(claimed), errClaimLost) {
		err = fmt.Errorf("%w: %w", errClaimLost, err)
	}
	if err != nil && ctx.Err() != nil {
		// Stopping (SIGTERM): the order was cancelled, not failed; its
		// records were removed and the next start checks it again.
		log.LogAttrs(ctx, slog.LevelInfo, "order cancelled", slog.String("reason", "stopping"))
		return now
	}
	if err != nil {
		next := d.backoff(g, name, now)
		if p, ok := errors.AsType[*acme.Problem](err); ok && p.Type == acme.ProblemRateLimited {
			until := now.Add(max(p.RetryAfter, g.cfg.Daemon.RetryMin))
			d.gate.block(key, until)
			d.fleetBlock(ctx, key, until, log)
			next = maxTime(next, until)
		}
		log.LogAttrs(ctx, slog.LevelError, "order failed", slog.String("error", err.Error()), slog.Time("retry_at", next))
		return next
	}
	d.mu.Lock()
	delete(d.failures, name)
	d.mu.Unlock()
	if due, err := d.due(ctx, g, cert); err == nil && due.At.After(now) {
		return d.nextCheck(g, due, now)
	}
	return d.later(g, now.Add(g.cfg.Daemon.RetryMin))
}

// nextCheck is when to look at a certificate that is not due: when it
// will be, when the CA wants to be asked again, or after check_interval,
// whichever is first, but not before retry_min (a CA that cannot be asked
// says "again now").
func (d *Daemon) nextCheck(g *generation, due Due, now time.Time) time.Time {
	next := minTime(due.At, now.Add(g.cfg.Daemon.CheckInterval))
	if !due.Recheck.IsZero() {
		next = minTime(next, due.Recheck)
	}
	return d.later(g, maxTime(next, now.Add(g.cfg.Daemon.RetryMin)))
}

// backoff counts a failure of name and returns when to try again:
// retry_min doubled per consecutive failure up to retry_max, ±10 %.
func (d *Daemon) backoff(g *generation, name string, now time.Time) time.Time {
	d.mu.Lock()
	d.failures[name]++
	n := d.failures[name]
	d.mu.Unlock()
	wait := g.cfg.Daemon.RetryMin
	for i := 1; i < n && wait < g.cfg.Daemon.RetryMax; i++ {
		wait *= 2
	}
	wait = min(wait, g.cfg.Daemon.RetryMax)
	wait += time.Duration((rand.Float64()*0.2 - 0.1) * float64(wait))
	return now.Add(wait)
}

// order obtains cert once: provider instances, pre hook, the engine's
// order, post hook, and the deploy hook after success.
func (d *Daemon) order(ctx context.Context, g *generation, cert config.Certificate, due Due) (*core.Result, error) {
	log := d.log.With("cert", cert.Name)
	reason := due.Reason
	d.m.orders.WithLabelValues(reason).Inc()
	d.m.inFlight.Inc()
	defer d.m.inFlight.Dec()
	start := d.now()
	log.LogAttrs(ctx, slog.LevelInfo, "order starting", slog.String("reason", reason), slog.Any("domains", cert.Domains))
	res, err := d.obtain(ctx, g, cert, due.Replaces, log)
	d.pre.record(ctx, cert.Name, err, log)
	result := "success"
	if err != nil {
		result = "failure"
		d.m.failures.WithLabelValues(failureReason(ctx, err)).Inc()
	}
	d.m.orderDuration.WithLabelValues(result).Observe(d.now().Sub(start).Seconds())
	if err != nil {
		return nil, err
	}
	if reason != reasonMissing && reason != reasonChanged {
		d.m.renewals.Inc()
	}
	for _, cerr := range res.CleanupErrors {
		log.LogAttrs(ctx, slog.LevelWarn, "cleanup left work for the next order", slog.String("error", cerr.Error()))
	}
	d.m.notAfter.WithLabelValues(cert.Name).Set(float64(res.NotAfter.Unix()))
	log.LogAttrs(ctx, slog.LevelInfo, "certificate stored", slog.Time("not_after", res.NotAfter),
		slog.Duration("elapsed", time.Duration(res.Elapsed)))
	return res, nil
}

func (d *Daemon) obtain(ctx context.Context, g *generation, cert config.Certificate, replaces string, log *slog.Logger) (*core.Result, error) {
	provider, l, err := providerFor(ctx, cert, g.insts, d.m)
	if err != nil {
		return nil, &core.Error{Kind: core.KindDNS, Err: fmt.Errorf("provider: %w", errProviderStart{err})}
	}
	defer l.release()
	lineage := filepath.Join(g.cfg.State, storage.LiveKey(cert.Name))
	hookEnv := []string{"ZONECERT_CERT_NAME=" + cert.Name, "ZONECERT_DOMAINS=" + strings.Join(cert.Domains, " ")}
	if d.hooks != nil {
		// Pre and post hooks run around each order: a daemon has no "run".
		if err := d.hooks.Run(ctx, core.HookPre, cert.Hooks.Pre, hookEnv...); err != nil {
			d.m.hookFailures.WithLabelValues("pre").Inc()
			return nil, err
		}
		defer func() {
			if err := d.hooks.Run(context.WithoutCancel(ctx), core.HookPost, cert.Hooks.Post, hookEnv...); err != nil {
				d.m.hookFailures.WithLabelValues("post").Inc()
				log.LogAttrs(ctx, slog.LevelWarn, "post hook failed", slog.String("error", err.Error()))
			}
		}()
	}
	eng, err := core.New(core.Config{
		Storage: d.store, Provider: provider, ProviderInstance: l.journalName, HTTPClient: g.http, Logger: log, Now: d.now,
		Observer: d.fleet.observer(newOrderObserver(d.m, log)), AllowInsecureHTTP: d.opts.AllowInsecureHTTP,
		ACME: g.acme, DNS: g.dns, Preflight: d.pre.checker, LiveOwners: d.owners,
	})
	if err != nil {
		return nil, err
	}
	c := g.cfg
	res, err := eng.Obtain(ctx, core.Request{
		Domains: slices.Clone(cert.Domains), CertName: cert.Name,
		DirectoryURL: c.ACME.DirectoryURL, Email: c.ACME.Email, AgreeTOS: c.ACME.AgreeTOS, EAB: c.ACME.EAB,
		KeyType: cert.KeyType, Profile: cert.Profile, PreferredChain: cert.PreferredChain,
		Resolvers: c.DNS.Resolvers, NameserverPort: c.DNS.NameserverPort,
		PropagationTimeout: c.DNS.PropagationTimeout, Wait: c.DNS.Wait,
		// The configuration says which CA: a lineage follows it (Force).
		// The plan names the plugin of the first instance: the daemon
		// renews from its configuration, never from the plan's provider.
		Lifecycle: core.Lifecycle{Replaces: replaces, Force: true, DeployHook: cert.Hooks.Deploy,
			Provider: core.ProviderSource{Name: g.insts[cert.Instances()[0]].def.Plugin}},
	})
	if err != nil {
		return nil, err
	}
	if d.hooks != nil {
		if err := d.hooks.Run(ctx, core.HookDeploy, cert.Hooks.Deploy, append(hookEnv,
			"RENEWED_LINEAGE="+lineage, "RENEWED_DOMAINS="+strings.Join(cert.Domains, " "))...); err != nil {
			// The certificate is stored; a failed deploy does not undo it.
			d.m.hookFailures.WithLabelValues("deploy").Inc()
			log.LogAttrs(ctx, slog.LevelError, "deploy hook failed", slog.String("error", err.Error()))
		}
	}
	return res, nil
}

type errProviderStart struct{ error }

func (e errProviderStart) Unwrap() error { return e.error }

// failureReason is the label of a failed order.
func failureReason(ctx context.Context, err error) string {
	if p, ok := errors.AsType[*acme.Problem](err); ok && p.Type == acme.ProblemRateLimited {
		return "rate_limited"
	}
	if _, ok := errors.AsType[errProviderStart](err); ok {
		return "provider_start"
	}
	if ctx.Err() != nil {
		return "canceled"
	}
	return core.KindOf(err).String()
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// orderObserver turns one order's progress into the propagation-wait
// histogram (first record handed to a provider until the first challenge
// is answered, which the engine does only once every nameserver serves
// every record) and debug log lines.
type orderObserver struct {
	m   *metrics
	log *slog.Logger

	mu        sync.Mutex
	published time.Time
	measured  bool
}

func newOrderObserver(m *metrics, log *slog.Logger) *orderObserver {
	return &orderObserver{m: m, log: log}
}

func (o *orderObserver) Observe(ctx context.Context, ev progress.Event) {
	o.mu.Lock()
	switch ev.Stage {
	case progress.Publishing:
		if o.published.IsZero() {
			o.published = ev.Time
		}
	case progress.Validating:
		if !o.measured && !o.published.IsZero() {
			o.measured = true
			o.m.propagation.Observe(ev.Time.Sub(o.published).Seconds())
		}
	}
	o.mu.Unlock()
	attrs := []slog.Attr{slog.String("stage", string(ev.Stage))}
	if ev.Identifier != "" {
		attrs = append(attrs, slog.String("identifier", ev.Identifier))
	}
	if ev.Zone != "" {
		attrs = append(attrs, slog.String("fqdn", ev.FQDN), slog.String("zone", ev.Zone))
	}
	if ev.Total > 0 {
		attrs = append(attrs, slog.Int("ready", ev.Ready), slog.Int("total", ev.Total))
	}
	if ev.Detail != "" {
		attrs = append(attrs, slog.String("detail", ev.Detail))
	}
	level := slog.LevelDebug
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
		level = slog.LevelWarn
	}
	o.log.LogAttrs(ctx, level, "progress", attrs...)
}
