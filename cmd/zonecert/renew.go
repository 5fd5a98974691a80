package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

type renewFlags struct {
	certNames     []string
	force         bool
	dryRun        bool
	json          bool
	maxConcurrent int
	preHook       string
	postHook      string
	hookTimeout   time.Duration
	reuseKey      bool

	// Overrides of what the plans say, for this run only.
	path               string
	caBundle           string
	resolvers          []string
	pluginDirs         []string
	pluginSHA256       []string
	pluginPassEnv      []string
	dnsConfig          string
	propagationTimeout time.Duration
	wait               string
	challenge          string
	nsPort             int
	verbose            bool
	preflightFlags
}

func newRenewCmd(e env) *cobra.Command {
	var f renewFlags
	cmd := &cobra.Command{
		Use:   "renew [--cert-name NAME]... [flags]",
		Short: "Renew the certificates that are due, from their stored renewal plans",
		Long: `Renew every certificate lineage that is due, or only those named with
--cert-name, repeating the order obtain recorded in <path>/renewal/<name>.

A lineage is due when its CA's renewal information (ARI, RFC 9773) says so:
zonecert picks a random time in the suggested window and asks the CA again
only after its Retry-After. Without ARI it is due when less than a third of
its lifetime is left. A lineage that is not due costs no order and starts
no plugin, so renew is cheap enough to run every hour from cron.

The provider's settings are read again from where obtain found them: the
same environment variables, or the same --dns-config file. A lineage
obtained with --challenge dns-persist-01 and no --dns renews with no
provider at all.

Hooks: --pre-hook runs once before the first renewal and --post-hook once
after the last, both only when something is due. Each lineage's deploy hook
(obtain --deploy-hook) runs after its renewal with RENEWED_LINEAGE and
RENEWED_DOMAINS, and so do the executables in <path>/renewal-hooks/{pre,
deploy,post}/, in lexical order. Hooks get a minimal environment, never the
provider's secrets.

` + exitCodesHelp,
		Example: `  # Hourly from cron:
  17 * * * * root zonecert renew >>/var/log/zonecert.log 2>&1

  # Rehearse every renewal against the staging CA; store nothing:
  zonecert renew --dry-run

  zonecert renew --cert-name www.example.com --force --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRenew(cmd.Context(), e, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.certNames, "cert-name", nil, "renew only this lineage (repeatable)")
	fl.BoolVar(&f.force, "force", false, "renew the selected lineages even if not due")
	fl.BoolVar(&f.dryRun, "dry-run", false, "order every selected lineage (Let's Encrypt lineages against staging) but store nothing and run no hook")
	fl.BoolVar(&f.json, "json", false, "print one JSON object per lineage")
	fl.IntVar(&f.maxConcurrent, "max-concurrent", core.DefaultMaxConcurrent, "renewals in flight at once")
	fl.StringVar(&f.preHook, "pre-hook", "", "command run once before the first renewal")
	fl.StringVar(&f.postHook, "post-hook", "", "command run once after the last renewal")
	fl.DurationVar(&f.hookTimeout, "hook-timeout", core.DefaultHookTimeout, "how long one hook may run")
	fl.BoolVar(&f.reuseKey, "reuse-key", false, "keep each lineage's private key this time")
	fl.StringVar(&f.path, "path", "", "state directory (default as for obtain)")
	fl.StringVar(&f.caBundle, "ca-bundle", "", "PEM file of extra roots for the ACME server's TLS (env ZONECERT_CA_BUNDLE)")
	fl.StringArrayVar(&f.resolvers, "dns-resolver", nil, "recursive resolver host[:port], instead of the plans' (repeatable)")
	fl.StringArrayVar(&f.pluginDirs, "plugin-dir", nil, "directory searched first for plugins (repeatable)")
	fl.StringArrayVar(&f.pluginSHA256, "plugin-sha256", nil, "pin a plugin binary: NAME=HEX (repeatable)")
	fl.StringArrayVar(&f.pluginPassEnv, "plugin-pass-env", nil, "let plugins have this environment variable they ask for, besides those obtain passed (NAME or PREFIX_*; repeatable)")
	fl.StringVar(&f.dnsConfig, "dns-config", "", "provider settings file, instead of the plans'")
	fl.DurationVar(&f.propagationTimeout, "propagation-timeout", 0, "how long to wait for every authoritative nameserver (default: the plans')")
	fl.StringVar(&f.wait, "wait", "", "propagation check, instead of the plans': authoritative, fixed:DURATION or none")
	fl.StringVar(&f.challenge, "challenge", "", "validation method, instead of the plans': auto, dns-01, dns-account-01, dns-persist-01")
	fl.IntVar(&f.nsPort, "nameserver-port", 53, "port for authoritative nameserver queries (tests only)")
	_ = fl.MarkHidden("nameserver-port")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log debug details")
	bindPreflightFlags(fl, &f.preflightFlags)
	return cmd
}

func runRenew(ctx context.Context, e env, f *renewFlags) error {
	path := f.path
	if path == "" {
		p, err := defaultStatePath(e)
		if err != nil {
			return usageError{err}
		}
		path = p
	}
	if f.maxConcurrent < 1 {
		return usageError{errors.New("--max-concurrent must be at least 1")}
	}
	if f.hookTimeout <= 0 {
		return usageError{errors.New("--hook-timeout must be positive")}
	}
	for _, n := range f.certNames {
		if err := core.ValidateCertName(n); err != nil {
			return usageError{fmt.Errorf("--cert-name: %w", err)}
		}
	}
	bundle, err := caBundlePath(e, f.caBundle)
	if err != nil {
		return usageError{err}
	}
	store, closeStore, err := openChecked(ctx, e, path)
	if err != nil {
		return usageError{err}
	}
	defer closeStore()
	client, err := lineageHTTPClient(ctx, store, f.certNames, bundle)
	if err != nil {
		return usageError{err}
	}
	log := cliLogger(e, f.verbose)
	providers := newProviderSet(log)
	defer providers.close()
	hooks := newHooks(e, path, f.hookTimeout, log)
	hooks.Pre, hooks.Post = f.preHook, f.postHook

	results, err := core.Renew(ctx, core.RenewConfig{
		Config:        core.Config{Storage: store, HTTPClient: client, Logger: log, Preflight: f.preflighter()},
		Names:         f.certNames,
		Force:         f.force,
		DryRun:        f.dryRun,
		MaxConcurrent: f.maxConcurrent,
		Hooks:         hooks,
		Prepare: func(ctx context.Context, p core.Plan) (core.Request, plugin.Provider, error) {
			return prepareRenewal(ctx, e, f, path, providers, p)
		},
		Observer: func(name string) progress.Observer {
			return progress.ObserverFunc(func(ctx context.Context, ev progress.Event) {
				attrs := []slog.Attr{slog.String("cert", name), slog.String("stage", string(ev.Stage))}
				if ev.Identifier != "" {
					attrs = append(attrs, slog.String("identifier", ev.Identifier))
				}
				if ev.Detail != "" {
					attrs = append(attrs, slog.String("detail", ev.Detail))
				}
				if ev.Err != nil {
					attrs = append(attrs, slog.String("error", ev.Err.Error()))
				}
				log.LogAttrs(ctx, slog.LevelDebug, "progress", attrs...)
			})
		},
		Listed: func(name string, kind core.HookKind, cmd string) {
			if name == "" {
				fmt.Fprintf(e.stderr, "dry run: would run %s hook: %s\n", kind, cmd)
				return
			}
			fmt.Fprintf(e.stderr, "dry run: would run %s hook for %s: %s\n", kind, name, cmd)
		},
	})
	if err != nil {
		if core.KindOf(err) == core.KindInput {
			return usageError{err}
		}
		return err
	}
	return reportRenewals(e, f, results)
}

// prepareRenewal turns a plan into the request of its renewal, applying
// this run's flags, and starts (or reuses) its provider plugin.
func prepareRenewal(ctx context.Context, e env, rf *renewFlags, path string, ps *providerSet, p core.Plan) (core.Request, plugin.Provider, error) {
	f := &obtainFlags{
		domains: p.Domains, server: p.Directory, email: p.Email, agreeTOS: p.AgreeTOS,
		dns: p.Provider.Name, dnsConfig: p.Provider.ConfigFile, resolvers: p.Resolvers,
		propagationTimeout: time.Duration(p.PropagationTimeout), keyType: string(p.KeyType),
		profile: p.Profile, preferredChain: p.PreferredChain, certName: p.Name, path: path,
		pluginDirs: append(slices.Clone(rf.pluginDirs), p.Provider.PluginDirs...),
		pluginPath: p.Provider.PluginPath, pluginSHA256: pinsFor(p.Provider.Name, rf.pluginSHA256),
		aliases: flagPairs(p.ChallengeAliases), zones: flagPairs(p.Zones), wait: p.Wait, nsPort: rf.nsPort,
		lifecycleFlags: lifecycleFlags{dryRun: rf.dryRun, reuseKey: p.ReuseKey || rf.reuseKey,
			deployHook: p.DeployHook, hookTimeout: rf.hookTimeout},
	}
	// What obtain passed the plugin (the plan's names) stays allowed.
	f.pluginPassEnv = append(slices.Clone(rf.pluginPassEnv), p.Provider.Env...)
	if p.Provider.PluginSHA256 != "" && pinFor(p.Provider.Name, rf.pluginSHA256) == "" {
		f.pluginSHA256 = append(f.pluginSHA256, p.Provider.Name+"="+p.Provider.PluginSHA256)
	}
	if rf.dnsConfig != "" {
		f.dnsConfig = rf.dnsConfig
	}
	if len(rf.resolvers) > 0 {
		f.resolvers = rf.resolvers
	}
	if rf.propagationTimeout > 0 {
		f.propagationTimeout = rf.propagationTimeout
	}
	if f.propagationTimeout <= 0 {
		f.propagationTimeout = 2 * time.Minute
	}
	if rf.wait != "" {
		f.wait = rf.wait
	}
	f.challenge = p.Challenge
	if rf.challenge != "" {
		f.challenge = rf.challenge
	}
	// A renewal reuses the lineage's account: no External Account Binding,
	// even if the environment still holds the MAC key obtain used.
	noEAB := e
	noEAB.lookupEnv = func(k string) (string, bool) {
		if k == "ZONECERT_EAB_HMAC" {
			return "", false
		}
		return e.lookupEnv(k)
	}
	op, err := planObtain(noEAB, f)
	if err != nil {
		return core.Request{}, nil, &core.Error{Kind: core.KindInput, Err: err}
	}
	for _, n := range p.Provider.Env {
		if _, ok := op.pluginCfg.LookupEnv(n); !ok {
			return core.Request{}, nil, &core.Error{Kind: core.KindInput, Err: fmt.Errorf(
				"provider %s: environment variable %s is not set (the lineage was obtained with it; renew needs the same environment)",
				p.Provider.Name, n)}
		}
	}
	if f.dns == "" { // a dns-persist-01 lineage: no plugin at all
		return op.req, nil, nil
	}
	if p.Provider.PluginSHA256 != "" && pinFor(p.Provider.Name, rf.pluginSHA256) == "" {
		op.pluginCfg.PinSource = "the renewal plan of " + p.Name
	}
	if op.pluginCfg, err = withLock(ctx, path, op.pluginCfg); err != nil {
		return core.Request{}, nil, err
	}
	prov, err := ps.get(ctx, op.pluginCfg, f.dnsConfig)
	if err != nil {
		return core.Request{}, nil, providerError(p.Provider.Name, err)
	}
	return op.req, prov, nil
}

// flagPairs writes a map back as repeated NAME=VALUE flags.
func flagPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// providerSet runs one plugin process per distinct provider setup (name,
// binary, settings file) for the whole renew run, behind one coalescer
// (config.Limits.Coalescer at the defaults, as the daemon's instances
// have): the records of the run's concurrent orders for one zone go out in
// one Present call and their removals in one CleanUp call.
type providerSet struct {
	log      *slog.Logger
	mu       sync.Mutex
	managers map[string]*host.Manager
	fronts   map[*host.Client]coalesced
}

func newProviderSet(log *slog.Logger) *providerSet {
	return &providerSet{log: log, managers: map[string]*host.Manager{}, fronts: map[*host.Client]coalesced{}}
}

func (s *providerSet) get(ctx context.Context, cfg host.Config, configFile string) (plugin.Provider, error) {
	key := strings.Join(append([]string{cfg.Name, cfg.Path, cfg.SHA256, configFile}, cfg.Dirs...), "\x00")
	s.mu.Lock()
	m, ok := s.managers[key]
	if !ok {
		m = host.NewManager(s.log)
		s.managers[key] = m
	}
	s.mu.Unlock()
	cfg.Logger = s.log
	c, err := m.Get(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.fronts[c]
	if !ok {
		f = coalesced{config.DefaultLimits().Coalescer(c, coalescerLog(s.log, c.Fingerprint())), c}
		s.fronts[c] = f
	}
	return f, nil
}

// coalesced is the run's coalescer in front of one plugin. It keeps the
// plugin's identity, which the coalescer alone hides: the engine journals
// each record under the plugin's Fingerprint, so only this instance ever
// removes it, names the provider in progress events after its Metadata,
// and checks zones against its ListZones.
type coalesced struct {
	*dns01.Coalescer
	c *host.Client
}

var _ plugin.ZoneLister = coalesced{}

func (p coalesced) Fingerprint() string       { return p.c.Fingerprint() }
func (p coalesced) Metadata() plugin.Metadata { return p.c.Metadata() }
func (p coalesced) ListZones(ctx context.Context) ([]string, error) {
	return p.c.ListZones(ctx)
}

// coalescerLog logs each call and retry of a run's coalescer at debug.
func coalescerLog(log *slog.Logger, inst string) dns01.CoalescerHooks {
	return dns01.CoalescerHooks{
		Call: func(op string, records, orders int) {
			log.LogAttrs(context.Background(), slog.LevelDebug, "provider call", slog.String("provider", inst),
				slog.String("method", op), slog.Int("records", records), slog.Int("orders", orders))
		},
		Retry: func(op string, code plugin.Code, records int, pause time.Duration) {
			log.LogAttrs(context.Background(), slog.LevelDebug, "provider call retried", slog.String("provider", inst),
				slog.String("method", op), slog.String("code", code.String()), slog.Int("records", records),
				slog.Duration("pause", pause))
		},
	}
}

func (s *providerSet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.managers {
		_ = m.Close()
	}
}

// cliLogger logs on stderr (renew runs unattended: no live display), as
// --log-format and --log-level say.
func cliLogger(e env, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	logs := e.logs
	if logs == nil {
		logs = &logFlags{format: "text"}
	}
	return slog.New(logs.handler(e.stderr, level)) // --log-format and --log-level apply
}

// reportRenewals prints one line (or JSON object) per lineage and turns
// failures into the exit code: the failures' own code when they agree,
// else 1; a failed hook after a renewal that stands is exitHook.
func reportRenewals(e env, f *renewFlags, results []core.RenewResult) error {
	enc := json.NewEncoder(e.stdout)
	var codes []int
	for _, r := range results {
		if r.Err != nil {
			r.Error = r.Err.Error()
			c := exitCode(r.Err)
			if errors.Is(r.Err, core.ErrHook) {
				c = exitHook
			}
			codes = append(codes, c)
		}
		if f.json {
			if err := enc.Encode(r); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(e.stdout, renewLine(r, f.dryRun))
	}
	if len(results) == 0 && !f.json {
		fmt.Fprintln(e.stdout, "no certificates with a renewal plan")
	}
	if len(codes) == 0 {
		return nil
	}
	slices.Sort(codes)
	code := codes[0]
	if codes[len(codes)-1] != code {
		code = exitInternal
	}
	return renewFailed{failed: len(codes), total: len(results), code: code}
}

func renewLine(r core.RenewResult, dryRun bool) string {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch {
	case r.Err != nil && r.Result != nil:
		return fmt.Sprintf("%s: renewed (%s), but: %v", r.Name, r.Reason, r.Err)
	case r.Err != nil:
		return fmt.Sprintf("%s: FAILED: %v", r.Name, r.Err)
	case dryRun && r.Result != nil:
		return fmt.Sprintf("%s: dry run succeeded (%s); nothing stored", r.Name, strings.Join(r.Result.Domains, ", "))
	case r.Renewed:
		s := fmt.Sprintf("%s: renewed (%s), expires %s", r.Name, r.Reason, ts(r.Result.NotAfter))
		if r.Replaces != "" {
			s += ", replaces " + r.Replaces
		}
		return s
	}
	return fmt.Sprintf("%s: not due; renewal from %s, next check %s", r.Name, ts(r.RenewAt), ts(r.NextCheck))
}

// renewFailed is a renew run in which some lineages failed.
type renewFailed struct{ failed, total, code int }

func (e renewFailed) Error() string {
	return fmt.Sprintf("%d of %d certificate(s) failed", e.failed, e.total)
}

func (e renewFailed) ExitCode() int { return e.code }
