package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/preflight"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

type doctorFlags struct {
	domains            []string
	config             string
	server             string
	caBundle           string
	challenge          string
	accountURI         string
	resolvers          []string
	systemResolvers    []string
	propagationTimeout time.Duration
	aliases, zones     []string
	json, writeTest    bool
	hasEAB             bool
	nsPort             int
	// The provider, as obtain starts it.
	dns, dnsConfig string
	pluginDirs     []string
	pluginPath     string
	pluginSHA256   []string
	path           string
}

func newDoctorCmd(e env) *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor -d DOMAIN [-d DOMAIN...] [--dns PROVIDER] [--server CA] | doctor --config FILE",
		Short: "Find why a DNS-01 order would fail, before the CA is asked, and say how to fix it",
		Long: `doctor asks the authoritative name servers directly, as the CA will, and checks
for each name: the delegation (every NS resolves, every address answers
authoritatively over UDP and TCP, the same SOA serial everywhere, the parent's
NS set), the challenge name's CNAME chain and the zone the record goes to, CAA
(RFC 8659; accounturi and validationmethods of RFC 8657), the DNSSEC chain,
negative caching against the propagation timeout, and split horizon (the
system resolvers against the authoritative view). With --server it checks the
CA's directory (ARI, profiles, EAB, clock skew); with --dns the provider, and
with --write-test it publishes a test TXT record and times its propagation
(with --config: through the provider instance of each certificate's zones,
started as run starts it, once per instance and zone).

Each line is one check of one name: ok, warning or error, with a fix for each
problem. Exit code 0: no error (warnings may remain); 4: an order would fail.
obtain, renew and the daemon run the cheap checks before every order.`,
		Example: `  zonecert doctor -d example.com -d '*.example.com'
  zonecert doctor -d example.com --server letsencrypt --dns rfc2136 --write-test
  zonecert doctor --config /etc/zonecert/zonecert.toml --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDoctor(cmd.Context(), e, &f) },
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.domains, "domain", "d", nil, "DNS name to check (repeatable)")
	fl.StringVar(&f.config, "config", "", "check every certificate of this daemon configuration")
	fl.StringVar(&f.server, "server", "", "ACME directory URL (or letsencrypt, letsencrypt-staging) to check and to take CAA identities from")
	fl.StringVar(&f.caBundle, "ca-bundle", "", "PEM file of extra roots for the ACME server's TLS (env ZONECERT_CA_BUNDLE)")
	fl.StringVar(&f.challenge, "challenge", "dns-01", "validation method: dns-01, dns-account-01, dns-persist-01")
	fl.StringVar(&f.accountURI, "account-uri", "", "the ACME account URI, for CAA accounturi and the dns-account-01 label")
	fl.StringArrayVar(&f.resolvers, "dns-resolver", nil, "recursive resolver host[:port] (repeatable; default from /etc/resolv.conf)")
	fl.StringArrayVar(&f.systemResolvers, "system-resolver", nil, "the local view for the split-horizon check (repeatable; default from /etc/resolv.conf)")
	fl.DurationVar(&f.propagationTimeout, "propagation-timeout", 2*time.Minute, "the propagation timeout orders use")
	fl.StringArrayVar(&f.aliases, "challenge-alias", nil, "DOMAIN=NAME, as for obtain (repeatable)")
	fl.StringArrayVar(&f.zones, "zone", nil, "DOMAIN=ZONE, as for obtain (repeatable)")
	fl.BoolVar(&f.json, "json", false, "print the findings as JSON")
	fl.BoolVar(&f.writeTest, "write-test", false, "with --dns, or --config (through each certificate's provider instances, once per instance and zone): publish a test TXT record, time its propagation, remove it")
	fl.BoolVar(&f.hasEAB, "eab", false, "an External Account Binding will be given (for the CA check)")
	fl.StringVar(&f.dns, "dns", "", "DNS provider plugin, checked (and written with --write-test)")
	fl.StringVar(&f.dnsConfig, "dns-config", "", "file of provider settings, NAME=VALUE per line")
	fl.StringArrayVar(&f.pluginDirs, "plugin-dir", nil, "directory searched first for zonecert-dns-<name> (repeatable)")
	fl.StringVar(&f.pluginPath, "plugin-path", "", "explicit plugin binary for --dns")
	fl.StringArrayVar(&f.pluginSHA256, "plugin-sha256", nil, "pin a plugin binary: NAME=HEX (repeatable)")
	fl.StringVar(&f.path, "path", "", "state directory (for plugins.lock pins)")
	fl.IntVar(&f.nsPort, "nameserver-port", 53, "port for authoritative nameserver queries (tests only)")
	_ = fl.MarkHidden("nameserver-port")
	return cmd
}

// doctorVerdict is the error of a run that found errors: exit 4, an order
// would fail.
type doctorVerdict struct{ errors int }

func (d doctorVerdict) Error() string {
	return fmt.Sprintf("doctor: %d problem(s) would fail an order", d.errors)
}
func (d doctorVerdict) ExitCode() int { return exitDNS }

// doctorJob is one set of names checked together (a certificate).
type doctorJob struct {
	cert   string
	def    config.Certificate // with --config
	target preflight.Target
}

func runDoctor(ctx context.Context, e env, f *doctorFlags) error {
	if (f.config == "") == (len(f.domains) == 0) {
		return usageError{errors.New("pass -d DOMAIN (repeatable) or --config FILE")}
	}
	if f.writeTest && f.dns == "" && f.config == "" {
		return usageError{errors.New("--write-test needs --dns PROVIDER or --config FILE")}
	}
	sys, _ := dns01.SystemResolvers("/etc/resolv.conf")
	if len(f.systemResolvers) > 0 {
		sys = nil
		for _, r := range f.systemResolvers {
			p, err := dns01.ParseResolver(r)
			if err != nil {
				return usageError{err}
			}
			sys = append(sys, p)
		}
	}
	bundle := f.caBundle
	var jobs []doctorJob
	var resolvers []string
	for _, r := range f.resolvers {
		p, err := dns01.ParseResolver(r)
		if err != nil {
			return usageError{err}
		}
		resolvers = append(resolvers, p)
	}
	if len(resolvers) == 0 {
		resolvers = sys
	}
	nsPort, server, hasEAB, timeout := f.nsPort, serverURL(f.server), f.hasEAB, f.propagationTimeout
	var instances *doctorInstances
	if f.config != "" {
		cfg, err := loadConfig(ctx, e, f.config, f.pluginDirs)
		if err != nil {
			return err
		}
		resolvers, nsPort, timeout = cfg.DNS.Resolvers, cfg.DNS.NameserverPort, cfg.DNS.PropagationTimeout
		server, hasEAB = cfg.ACME.DirectoryURL, cfg.ACME.EAB != nil
		if bundle == "" {
			bundle = cfg.ACME.CABundle
		}
		for _, c := range cfg.Certificates {
			// c.Zones maps zones to provider instances, not names to zones
			// (the daemon's orders set no zone overrides).
			jobs = append(jobs, doctorJob{cert: c.Name, def: c, target: preflight.Target{Domains: c.Domains}})
		}
		if f.writeTest {
			instances = newDoctorInstances(e, cfg, f.config, f.pluginDirs)
			defer instances.close()
		}
	} else {
		challenge, err := core.ParseChallenge(f.challenge)
		if err != nil {
			return usageError{fmt.Errorf("bad --challenge: %w", err)}
		}
		if len(resolvers) == 0 {
			return usageError{errors.New("no --dns-resolver given and /etc/resolv.conf unusable")}
		}
		req := core.Request{Domains: f.domains, DirectoryURL: "https://ca.invalid/directory", Challenge: challenge, Resolvers: resolvers}
		if req.ChallengeAliases, err = pairs("--challenge-alias", f.aliases); err != nil {
			return usageError{err}
		}
		if req.Zones, err = pairs("--zone", f.zones); err != nil {
			return usageError{err}
		}
		// NormalizeRequest owns the name rules; the URL is a placeholder.
		// It leaves the resolvers as they are.
		if req, err = core.NormalizeRequest(req); err != nil {
			return usageError{err}
		}
		jobs = append(jobs, doctorJob{target: preflight.Target{Domains: req.Domains, Method: challenge,
			AccountURI: f.accountURI, Aliases: req.ChallengeAliases, Zones: req.Zones}})
	}
	if bundle == "" {
		bundle = e.getenv("ZONECERT_CA_BUNDLE")
	}
	client, err := httpClient(bundle)
	if err != nil {
		return usageError{err}
	}
	checker := preflight.New(preflight.Config{Resolvers: resolvers, SystemResolvers: sys, NameserverPort: nsPort, HTTPClient: client})

	var out []preflight.Finding
	var caaIDs []string
	if server != "" {
		fs, dir := checker.CheckCA(ctx, preflight.CAOptions{DirectoryURL: server, HasEAB: hasEAB})
		out = append(out, fs...)
		if dir != nil {
			caaIDs = dir.Meta.CAAIdentities
		}
	}
	var provider plugin.Provider
	if f.dns != "" {
		p, closeFn, err := doctorProvider(ctx, e, f)
		if err != nil {
			out = append(out, preflight.Finding{Check: preflight.CheckProvider, Name: f.dns, Severity: preflight.Error,
				Message: err.Error(), Fix: "check the provider's settings and credentials (zonecert-dns-" + f.dns + " describe)"})
		} else {
			defer closeFn()
			provider = p
		}
	}
	var providerZones []string
	if provider != nil {
		providerZones = preflight.ProviderZones(ctx, provider)
	}
	wrote := map[string]bool{}
	for _, j := range jobs {
		t := j.target
		t.CAAIdentities, t.PropagationTimeout, t.ProviderZones = caaIDs, timeout, providerZones
		fs := checker.Doctor(ctx, t)
		if instances != nil {
			out = append(out, instances.writeTests(ctx, checker, j.def, fs)...)
		}
		if j.cert != "" {
			for i := range fs {
				fs[i].Name = j.cert + ": " + fs[i].Name
			}
		}
		out = append(out, fs...)
		if f.writeTest && provider != nil && instances == nil {
			for _, fd := range fs {
				if fd.Check == preflight.CheckChallenge && fd.Zone != "" && !wrote[fd.Zone] {
					wrote[fd.Zone] = true
					out = append(out, checker.WriteTest(ctx, provider, fd.Zone, timeout))
				}
			}
		}
	}
	return reportDoctor(e, f.json, out)
}

// doctorProvider starts --dns as obtain does.
func doctorProvider(ctx context.Context, e env, f *doctorFlags) (plugin.Provider, func(), error) {
	of := &obtainFlags{dns: f.dns, dnsConfig: f.dnsConfig, pluginDirs: f.pluginDirs, pluginPath: f.pluginPath,
		pluginSHA256: f.pluginSHA256, pluginTimeout: host.DefaultCallTimeout}
	cfg, err := pluginConfig(e, of)
	if err != nil {
		return nil, nil, err
	}
	if f.path != "" {
		if cfg, err = withLock(ctx, f.path, cfg); err != nil {
			return nil, nil, err
		}
	}
	mgr := host.NewManager(cliLogger(e, false))
	p, err := mgr.Get(ctx, cfg)
	if err != nil {
		mgr.Close()
		return nil, nil, err
	}
	return p, func() { _ = mgr.Close() }, nil
}

func reportDoctor(e env, asJSON bool, fs []preflight.Finding) error {
	slices.SortStableFunc(fs, func(a, b preflight.Finding) int { return strings.Compare(a.Name, b.Name) })
	errs := 0
	for _, f := range fs {
		if f.Severity == preflight.Error {
			errs++
		}
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"findings": fs, "order_would_fail": errs > 0}); err != nil {
			return err
		}
	} else {
		for _, f := range fs {
			fmt.Fprintln(e.stdout, f)
		}
	}
	if errs > 0 {
		return doctorVerdict{errs}
	}
	return nil
}
