package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

// knownServer resolves the short names of well-known ACME directories
// (core.KnownCAs).
func knownServer(name string) (string, bool) {
	c, ok := core.KnownCAByName(name)
	return c.DirectoryURL, ok
}

type obtainFlags struct {
	domains            []string
	server             string
	caBundle           string
	email              string
	agreeTOS           bool
	eabKID, eabHMAC    string
	dns                string
	dnsConfig          string
	resolvers          []string
	propagationTimeout time.Duration
	keyType            string
	profile            string
	preferredChain     string
	certName           string
	path               string
	json               bool
	pluginDirs         []string
	pluginPath         string
	pluginSHA256       []string
	pluginPassEnv      []string
	aliases            []string
	zones              []string
	wait               string
	nsPort             int
	pluginTimeout      time.Duration
	verbose            bool
	lifecycleFlags
	challenge string
	preflightFlags
}

func newObtainCmd(e env) *cobra.Command {
	var f obtainFlags
	cmd := &cobra.Command{
		Use:   "obtain -d DOMAIN [-d DOMAIN...] --dns PROVIDER [flags]",
		Short: "Obtain a certificate with a DNS challenge (dns-01, dns-account-01 or dns-persist-01)",
		Long: `Obtain a certificate for one or more DNS names (wildcards included) and store it
certbot-compatibly under <path>/live/<cert-name>/{cert,chain,fullchain,privkey}.pem.

The challenge TXT records are published through the DNS provider plugin named
by --dns (the binary zonecert-dns-<name>: --plugin-path if given, else looked
up in --plugin-dir, then in $XDG_DATA_HOME/zonecert/plugins, then beside the
zonecert binary, then in PATH). zonecert asks the CA to validate only once every authoritative
nameserver of each zone serves every record, and removes the records
afterwards, whatever happened.

--challenge picks the validation method. dns-01 publishes at
_acme-challenge.<name>; dns-account-01 at _<account label>._acme-challenge.<name>,
so several accounts or clients can validate one name at once. dns-persist-01
uses the standing record _validation-persist.<name> set up once with
"zonecert persist setup": it needs no --dns at all and changes no DNS. auto
(the default) uses dns-persist-01 when every authoritative nameserver serves a
valid standing record for this account, and dns-01 otherwise.

Provider settings come from the environment variables the plugin declares
(run zonecert-dns-<name> describe to list them) and, optionally, from
--dns-config FILE: one NAME=VALUE per line, '#' comments. Upper-case names
(RFC2136_TSIG_SECRET) are environment variables, lower-case names (tsig_secret)
are setting names. Keep secrets out of the command line: use the environment
or that file (mode 0600).

Secrets never belong in process arguments, which every local user can read:
pass the EAB MAC key as ZONECERT_EAB_HMAC rather than --eab-hmac.

` + exitCodesHelp,
		Example: `  # Wildcard and apex from Let's Encrypt, RFC 2136 updates to your primary:
  export RFC2136_NAMESERVER=ns1.example.com RFC2136_TSIG_KEY=zonecert. \
         RFC2136_TSIG_SECRET=... RFC2136_TSIG_ALGORITHM=hmac-sha256.
  zonecert obtain --email ops@example.com --agree-tos --dns rfc2136 \
      -d '*.example.com' -d example.com

  # Try it against the staging CA first, result as JSON:
  zonecert obtain --server letsencrypt-staging --agree-tos --dns rfc2136 \
      -d www.example.com --json

  # No DNS API at all: zonecert serves the challenge zone itself.
  # (_acme-challenge.www.example.com is a CNAME into acme.example.net,
  # delegated to this host)
  STANDALONE_ZONE=acme.example.net STANDALONE_LISTEN=0.0.0.0:53 \
  zonecert obtain --agree-tos --dns standalone -d www.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := runObtain(cmd.Context(), e, &f)
			if err != nil && f.json {
				// Automation reading --json gets the failure there too.
				_ = json.NewEncoder(e.stdout).Encode(map[string]any{
					"error": err.Error(), "exit_code": exitCode(err),
				})
			}
			return err
		},
	}
	bindObtainFlags(cmd.Flags(), &f)
	return cmd
}

// bindObtainFlags declares obtain's flags on fl, storing into f.
func bindObtainFlags(fl *pflag.FlagSet, f *obtainFlags) {
	fl.StringArrayVarP(&f.domains, "domain", "d", nil, "DNS name to include (repeatable; a wildcard only as the leftmost label)")
	fl.StringVar(&f.server, "server", "letsencrypt", "ACME directory URL, or a well-known CA: "+core.KnownCANames())
	fl.StringVar(&f.caBundle, "ca-bundle", "", "PEM file of extra roots for the ACME server's TLS (env ZONECERT_CA_BUNDLE)")
	fl.StringVar(&f.email, "email", "", "contact email for the ACME account")
	fl.BoolVar(&f.agreeTOS, "agree-tos", false, "agree to the CA's terms of service (needed to register an account)")
	fl.StringVar(&f.eabKID, "eab-kid", "", "External Account Binding key identifier")
	fl.StringVar(&f.eabHMAC, "eab-hmac", "", "External Account Binding MAC key, base64url (prefer env ZONECERT_EAB_HMAC)")
	fl.StringVar(&f.dns, "dns", "", "DNS provider plugin name, e.g. rfc2136, standalone")
	fl.StringVar(&f.dnsConfig, "dns-config", "", "file of provider settings, NAME=VALUE per line")
	fl.StringArrayVar(&f.resolvers, "dns-resolver", nil, "recursive resolver host[:port] for CNAME and zone lookups (repeatable; default from /etc/resolv.conf)")
	fl.DurationVar(&f.propagationTimeout, "propagation-timeout", 2*time.Minute, "how long to wait for every authoritative nameserver")
	fl.StringVar(&f.keyType, "key-type", "ec256", "certificate key: ec256, ec384, rsa2048, rsa3072, rsa4096")
	fl.StringVar(&f.profile, "profile", "", "ACME certificate profile (e.g. shortlived), if the CA offers profiles")
	fl.StringVar(&f.preferredChain, "preferred-chain", "", "issuer common name of the preferred chain, if the CA offers alternates")
	fl.StringVar(&f.certName, "cert-name", "", "certificate name on disk (default: the first domain, '*' written as '_')")
	fl.StringVar(&f.path, "path", "", "state directory (default $XDG_DATA_HOME/zonecert, /var/lib/zonecert as root; env ZONECERT_PATH)")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON on stdout")
	fl.StringArrayVar(&f.pluginDirs, "plugin-dir", nil, "directory searched first for zonecert-dns-<name> (repeatable)")
	fl.StringVar(&f.pluginPath, "plugin-path", "", "explicit plugin binary for --dns; skips the search")
	fl.StringArrayVar(&f.pluginSHA256, "plugin-sha256", nil, "pin a plugin binary: NAME=HEX (repeatable)")
	fl.StringArrayVar(&f.pluginPassEnv, "plugin-pass-env", nil, "let the plugin have this environment variable it asks for (NAME, or PREFIX_* ; repeatable; never ZONECERT_*)")
	fl.StringArrayVar(&f.aliases, "challenge-alias", nil, "publish DOMAIN's challenge at NAME instead of following CNAMEs: DOMAIN=NAME (repeatable)")
	fl.StringArrayVar(&f.zones, "zone", nil, "skip zone detection: DOMAIN=ZONE (repeatable)")
	fl.StringVar(&f.wait, "wait", "authoritative", "propagation check: authoritative, fixed:DURATION or none")
	fl.DurationVar(&f.pluginTimeout, "plugin-timeout", host.DefaultCallTimeout, "time limit of each call to the DNS provider plugin (a hung plugin fails after it)")
	fl.StringVar(&f.challenge, "challenge", core.ChallengeAuto,
		"validation method: auto (dns-persist-01 when a valid standing record exists, else dns-01), dns-01, dns-account-01, dns-persist-01")
	fl.IntVar(&f.nsPort, "nameserver-port", 53, "port for authoritative nameserver queries (tests only)")
	_ = fl.MarkHidden("nameserver-port")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log debug details")
	bindLifecycleFlags(fl, &f.lifecycleFlags)
	bindPreflightFlags(fl, &f.preflightFlags)
}

// obtainPlan is everything read and validated from flags and environment
// before anything touches the CA, the plugin or the disk.
type obtainPlan struct {
	req       core.Request
	path      string
	http      *http.Client
	pluginCfg host.Config
}

func runObtain(ctx context.Context, e env, f *obtainFlags) error {
	plan, err := planObtain(e, f)
	if err != nil {
		return usageError{err}
	}
	if err := checkStateDir(plan.path); err != nil {
		return err
	}
	hooks := newHooks(e, plan.path, f.hookTimeout, nil)
	if _, err := hooks.Commands(core.HookDeploy, f.deployHook); err != nil {
		return usageError{err}
	}
	if nd, err := checkExisting(ctx, f, plan); err != nil || nd != nil {
		if nd != nil {
			printNotDue(e, f.json, nd)
		}
		return err
	}
	ui := newUI(e, f.verbose, f.json)
	defer ui.close()
	log := ui.logger

	mgr := host.NewManager(log)
	defer mgr.Close()
	var provider plugin.Provider // none for dns-persist-01
	if f.dns != "" {
		plan.pluginCfg.Logger = log
		if plan.pluginCfg, err = withLock(ctx, plan.path, plan.pluginCfg); err != nil {
			return err
		}
		p, err := mgr.Get(ctx, plan.pluginCfg)
		if err != nil {
			return providerError(f.dns, err)
		}
		provider = p
		plan.req.Provider.Env = declaredEnv(p.EnvNames(), e.lookupEnv)
	}
	// After the plugin's own checks (which ask nothing of the CA), before
	// the engine writes anything.
	if err := checkRegistration(ctx, plan); err != nil {
		return err
	}
	store, closeStore, err := openChecked(ctx, e, plan.path)
	if err != nil {
		return usageError{err}
	}
	defer closeStore()
	eng, err := core.New(core.Config{
		Storage:    store,
		Provider:   provider,
		HTTPClient: plan.http,
		Observer:   ui,
		Logger:     log,
		Preflight:  f.preflighter(),
	})
	if err != nil {
		return err
	}
	res, err := eng.Obtain(ctx, plan.req)
	ui.close()
	if err != nil {
		return err
	}
	var hookErr error
	if res.DryRun {
		cmds, _ := hooks.Commands(core.HookDeploy, f.deployHook)
		for _, c := range cmds {
			log.Info("dry run: would run hook", "hook", core.HookDeploy, "command", c)
		}
	} else {
		hooks.Logger = log
		hookErr = hooks.Deploy(ctx, f.deployHook, filepath.Dir(res.Files.FullChain), res.Domains)
	}
	if f.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
		return hookErr
	}
	if res.DryRun {
		fmt.Fprintf(e.stdout, "Dry run: certificate %s issued by %s (%s); nothing stored\n",
			res.CertName, plan.req.DirectoryURL, strings.Join(res.Domains, ", "))
		return nil
	}
	fmt.Fprintf(e.stdout, "Certificate %s saved (%s, expires %s)\n  %s\n  %s\n",
		res.CertName, strings.Join(res.Domains, ", "), res.NotAfter.Format(time.DateOnly),
		res.Files.FullChain, res.Files.PrivKey)
	return hookErr
}

// planObtain turns flags into a request; core.NormalizeRequest owns the
// rules of the request itself, this only parses what is flag syntax.
func planObtain(e env, f *obtainFlags) (*obtainPlan, error) {
	challenge, err := core.ParseChallenge(f.challenge)
	if err != nil {
		return nil, fmt.Errorf("bad --challenge: %w", err)
	}
	if f.dns == "" && challenge != acme.ChallengeDNSPersist01 {
		return nil, errors.New("no DNS provider: pass --dns NAME (e.g. rfc2136, standalone); only --challenge dns-persist-01 works without one")
	}
	if f.dns != "" && (storage.ValidateKey("plugin/"+f.dns) != nil || strings.ContainsAny(f.dns, "/.")) {
		return nil, fmt.Errorf("bad provider name %q", f.dns)
	}
	req := core.Request{
		Domains:            f.domains,
		CertName:           f.certName,
		DirectoryURL:       serverURL(dryRunServer(f.server, f.dryRun)),
		Email:              f.email,
		AgreeTOS:           f.agreeTOS,
		KeyType:            acme.KeyType(f.keyType),
		Profile:            f.profile,
		PreferredChain:     f.preferredChain,
		Resolvers:          f.resolvers,
		NameserverPort:     f.nsPort,
		PropagationTimeout: f.propagationTimeout,
		Challenge:          challenge,
	}
	if len(req.Domains) == 0 {
		return nil, errors.New("no domain: pass at least one -d DOMAIN")
	}
	if req.Wait, err = dns01.ParseWait(f.wait); err != nil {
		return nil, err
	}
	if f.propagationTimeout <= 0 {
		return nil, errors.New("--propagation-timeout must be positive")
	}
	if req.EAB, err = eabFrom(e, f); err != nil {
		return nil, err
	}
	if len(req.Resolvers) == 0 {
		if req.Resolvers, err = dns01.SystemResolvers("/etc/resolv.conf"); err != nil {
			return nil, fmt.Errorf("no --dns-resolver given and /etc/resolv.conf unusable: %w", err)
		}
		req.SystemResolvers = true
	}
	if req.ChallengeAliases, err = pairs("--challenge-alias", f.aliases); err != nil {
		return nil, err
	}
	if req.Zones, err = pairs("--zone", f.zones); err != nil {
		return nil, err
	}
	if req, err = core.NormalizeRequest(req); err != nil {
		return nil, err
	}
	bundle, err := caBundlePath(e, f.caBundle)
	if err != nil {
		return nil, err
	}
	client, err := httpClient(bundle)
	if err != nil {
		return nil, err
	}
	path := f.path
	if path == "" {
		if path, err = defaultStatePath(e); err != nil {
			return nil, err
		}
	}
	var pcfg host.Config
	if f.dns != "" {
		if pcfg, err = pluginConfig(e, f); err != nil {
			return nil, err
		}
		// A plugin that asks DNS itself (lego) asks what zonecert asks.
		pcfg.Resolvers = req.Resolvers
	}
	if err := setLifecycle(&req, f); err != nil {
		return nil, err
	}
	req.CABundle = bundle
	return &obtainPlan{req: req, path: path, http: client, pluginCfg: pcfg}, nil
}

// serverURL expands the short names of well-known CAs; the URL itself is
// checked by core.NormalizeRequest.
func serverURL(s string) string {
	if u, ok := knownServer(s); ok {
		return u
	}
	return s
}

func eabFrom(e env, f *obtainFlags) (*core.EAB, error) {
	hmac := f.eabHMAC
	if hmac != "" {
		fmt.Fprintln(e.stderr, eabHMACWarning)
	} else {
		hmac = e.getenv("ZONECERT_EAB_HMAC")
	}
	switch {
	case f.eabKID == "" && hmac == "":
		return nil, nil
	case f.eabKID == "":
		return nil, errors.New("an EAB MAC key needs --eab-kid")
	case hmac == "":
		return nil, errors.New("--eab-kid needs the MAC key in ZONECERT_EAB_HMAC (or --eab-hmac)")
	}
	key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(hmac, "="))
	if err != nil || len(key) == 0 {
		return nil, errors.New("the EAB MAC key is not base64url")
	}
	return &core.EAB{KID: f.eabKID, HMAC: key}, nil
}

// pairs parses DOMAIN=NAME flag values; core.NormalizeRequest checks the
// names.
func pairs(flag string, in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(in))
	for _, p := range in {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("bad %s %q: want DOMAIN=NAME", flag, p)
		}
		m[k] = v
	}
	return m, nil
}

func httpClient(bundle string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if bundle != "" {
		pem, err := os.ReadFile(bundle)
		if err != nil {
			return nil, fmt.Errorf("reading CA bundle: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", bundle)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	// HTTP/2 where the CA offers it (a custom TLS config turns Go's
	// automatic HTTP/2 off unless forced): concurrent orders share one
	// kept-alive connection. Over HTTP/1.1, keep enough idle connections
	// for a daemon's concurrent orders.
	tr.ForceAttemptHTTP2 = true
	tr.MaxIdleConnsPerHost = 32
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

func pluginConfig(e env, f *obtainFlags) (host.Config, error) {
	if f.pluginTimeout < 0 {
		return host.Config{}, errors.New("--plugin-timeout must be positive")
	}
	cfg := host.Config{Name: f.dns, Path: f.pluginPath, Dirs: f.pluginDirs, LookupEnv: e.lookupEnv, CallTimeout: f.pluginTimeout,
		PassEnv: f.pluginPassEnv}
	for _, n := range f.pluginPassEnv {
		if n == "" || n == "*" || strings.ContainsAny(n, "= ") || strings.HasPrefix(n, "ZONECERT_") {
			return cfg, fmt.Errorf("bad --plugin-pass-env %q: want a variable name or PREFIX_*, never ZONECERT_*", n)
		}
	}
	for _, p := range f.pluginSHA256 {
		name, hex, ok := strings.Cut(p, "=")
		if !ok || len(hex) != 64 || strings.Trim(strings.ToLower(hex), "0123456789abcdef") != "" {
			return cfg, fmt.Errorf("bad --plugin-sha256 %q: want NAME=<64 hex digits>", p)
		}
		if name != f.dns {
			// A pin that names no plugin of this run protects nothing.
			return cfg, fmt.Errorf("--plugin-sha256 pins plugin %q, but this run uses --dns %s: fix the name or drop the pin", name, f.dns)
		}
		cfg.SHA256, cfg.PinSource = strings.ToLower(hex), "--plugin-sha256"
	}
	if f.dnsConfig == "" {
		return cfg, nil
	}
	settings, overlay, err := readSettingsFile(f.dnsConfig)
	if err != nil {
		return cfg, err
	}
	cfg.Settings = settings
	if len(overlay) > 0 {
		cfg.LookupEnv = func(k string) (string, bool) {
			if v, ok := overlay[k]; ok {
				return v, true
			}
			return e.lookupEnv(k)
		}
	}
	return cfg, nil
}

// providerError classifies a failure to start or configure a plugin: an
// unknown provider or a setting it rejects (missing or invalid, credentials
// included) is a usage error, anything else a provider failure.
func providerError(name string, err error) error {
	if _, ok := errors.AsType[*host.ConfigError](err); ok {
		// The error lists each rejected setting on its own line.
		return usageError{err}
	}
	if errors.Is(err, host.ErrNotFound) {
		return usageError{fmt.Errorf("unknown DNS provider %q: %w", name, err)}
	}
	return &core.Error{Kind: core.KindDNS, Err: fmt.Errorf("starting provider %s: %w", name, err)}
}
