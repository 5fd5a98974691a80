package config

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/plugin"
)

// KnownServer resolves the short names of well-known ACME directories
// (core.KnownCAs).
func KnownServer(name string) (string, bool) {
	c, ok := core.KnownCAByName(name)
	return c.DirectoryURL, ok
}

var instanceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// validator collects every error of one document.
type validator struct {
	file  string
	lines lines
	opts  Options
	mode  fs.FileMode
	errs  Errors
	// literal secrets found, for the file-mode rule
	literalSecrets []int
}

func (v *validator) errorf(line int, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) duration(s string, def time.Duration, path ...string) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		v.errorf(v.lines.at(path...), "%s: bad duration %q (e.g. 30s, 5m, 1h)", path[len(path)-1], s)
		return def
	}
	return d
}

func (v *validator) validate(ctx context.Context, raw *fileDoc) *Config {
	cfg := &Config{State: raw.State, Providers: map[string]Provider{}}
	if raw.State == "" && !raw.reported("state") {
		v.errorf(1, "state: the state directory is required (e.g. /var/lib/zonecert)")
	} else if !filepath.IsAbs(raw.State) {
		v.errorf(v.lines.at("state"), "state: %q is not an absolute path", raw.State)
	}
	cfg.PluginDirs = append(slices.Clone(v.opts.PluginDirs), raw.PluginDirs...)
	v.acme(raw, cfg)
	v.dns(raw, cfg)
	v.defaults(raw, cfg)
	cfg.Hooks = Hooks{Pre: raw.Hooks.Pre, Post: raw.Hooks.Post, Deploy: raw.Hooks.Deploy}
	v.daemon(raw, cfg)
	v.providers(ctx, raw, cfg)
	v.certificates(raw, cfg)
	v.storage(raw, cfg)
	if len(v.literalSecrets) > 0 && v.mode&0o077 != 0 {
		for _, ln := range v.literalSecrets {
			v.errorf(ln, "a literal secret in a file readable by group or others (mode %04o): chmod 600 %s, or use \"${ENV}\" or \"file:PATH\"", v.mode, v.file)
		}
	}
	return cfg
}

func (v *validator) acme(raw *fileDoc, cfg *Config) {
	a := raw.ACME
	server := a.Server
	if server == "" {
		server = "letsencrypt"
	}
	// The ACME client speaks https only (acme.Options.AllowInsecureHTTP is
	// for tests): refuse here what every order would refuse later.
	if u, ok := KnownServer(server); ok {
		cfg.ACME.DirectoryURL = u
	} else if u, err := url.Parse(server); err != nil || u.Host == "" || u.Scheme != "https" {
		v.errorf(v.lines.at("acme", "server"), "acme.server: %q is neither an https:// directory URL nor letsencrypt / letsencrypt-staging", server)
	} else {
		cfg.ACME.DirectoryURL = server
	}
	v.caBundle(a.CABundle)
	cfg.ACME.CABundle = a.CABundle
	if a.Email != "" && !strings.Contains(a.Email, "@") {
		v.errorf(v.lines.at("acme", "email"), "acme.email: %q is not an email address", a.Email)
	}
	// The daemon registers accounts as it needs them, with no one to ask.
	if !a.AgreeTOS {
		v.errorf(v.lines.at("acme"), "acme.agree_tos: set agree_tos = true to agree to the CA's terms of service; the daemon registers its accounts itself")
	}
	cfg.ACME.Email, cfg.ACME.AgreeTOS = a.Email, a.AgreeTOS
	switch {
	case a.EABKID == "" && a.EABHMAC == "":
	case a.EABKID == "" || a.EABHMAC == "":
		v.errorf(v.lines.at("acme"), "acme: eab_kid and eab_hmac go together")
	default:
		hmac, literal, ok := v.resolve(a.EABHMAC, true, "acme", "eab_hmac")
		if literal {
			v.literalSecrets = append(v.literalSecrets, v.lines.at("acme", "eab_hmac"))
		}
		if !ok {
			return
		}
		key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(hmac, "="))
		if err != nil || len(key) == 0 {
			v.errorf(v.lines.at("acme", "eab_hmac"), "acme.eab_hmac: not base64url")
			return
		}
		cfg.ACME.EAB = &core.EAB{KID: a.EABKID, HMAC: key}
	}
}

func (v *validator) dns(raw *fileDoc, cfg *Config) {
	d := raw.DNS
	for i, r := range d.Resolvers {
		host, port, err := net.SplitHostPort(r)
		if err != nil {
			host, port = r, "53"
		}
		if net.ParseIP(host) == nil {
			v.errorf(v.lines.at("dns", "resolvers", idx(i)), "dns.resolvers: %q is not an IP address with an optional :port", r)
			continue
		}
		cfg.DNS.Resolvers = append(cfg.DNS.Resolvers, net.JoinHostPort(host, port))
	}
	if len(d.Resolvers) == 0 {
		cfg.DNS.Resolvers = v.opts.DefaultResolvers
		if len(cfg.DNS.Resolvers) == 0 {
			v.errorf(v.lines.at("dns"), "dns.resolvers: none given and no system resolver known (/etc/resolv.conf)")
		}
	}
	cfg.DNS.PropagationTimeout = v.duration(d.PropagationTimeout, 2*time.Minute, "dns", "propagation_timeout")
	cfg.DNS.Wait = dns01.WaitAuthoritative
	if d.Wait != "" {
		w, err := dns01.ParseWait(d.Wait)
		if err != nil {
			v.errorf(v.lines.at("dns", "wait"), "dns.wait: %v", err)
		}
		cfg.DNS.Wait = w
	}
	cfg.DNS.NameserverPort = 53
	if d.NameserverPort != 0 {
		if d.NameserverPort < 0 || d.NameserverPort > 65535 {
			v.errorf(v.lines.at("dns", "nameserver_port"), "dns.nameserver_port: %d is no port", d.NameserverPort)
		}
		cfg.DNS.NameserverPort = d.NameserverPort
	}
}

func (v *validator) keyType(s string, def acme.KeyType, path ...string) acme.KeyType {
	if s == "" {
		return def
	}
	k, err := acme.ParseKeyType(s)
	if err != nil {
		v.errorf(v.lines.at(path...), "%s: %v", path[len(path)-1], err)
		return def
	}
	return k
}

func (v *validator) defaults(raw *fileDoc, cfg *Config) {
	cfg.Defaults = Defaults{
		KeyType:        v.keyType(raw.Defaults.KeyType, acme.KeyECDSAP256, "defaults", "key_type"),
		Profile:        raw.Defaults.Profile,
		PreferredChain: raw.Defaults.PreferredChain,
	}
}

func (v *validator) daemon(raw *fileDoc, cfg *Config) {
	d := raw.Daemon
	cfg.Daemon = Daemon{
		CheckInterval:       v.duration(d.CheckInterval, time.Hour, "daemon", "check_interval"),
		Jitter:              v.duration(d.Jitter, 5*time.Minute, "daemon", "jitter"),
		RetryMin:            v.duration(d.RetryMin, time.Minute, "daemon", "retry_min"),
		RetryMax:            v.duration(d.RetryMax, 6*time.Hour, "daemon", "retry_max"),
		StopTimeout:         v.duration(d.StopTimeout, time.Minute, "daemon", "stop_timeout"),
		MaxConcurrent:       core.DefaultMaxConcurrent,
		NewOrderConcurrency: 1,
	}
	if d.MaxConcurrent != nil {
		if *d.MaxConcurrent < 1 {
			v.errorf(v.lines.at("daemon", "max_concurrent"), "daemon.max_concurrent: want at least 1")
		}
		cfg.Daemon.MaxConcurrent = *d.MaxConcurrent
	}
	if d.NewOrderConcurrency != nil {
		if *d.NewOrderConcurrency < 1 {
			v.errorf(v.lines.at("daemon", "new_order_concurrency"), "daemon.new_order_concurrency: want at least 1")
		}
		cfg.Daemon.NewOrderConcurrency = *d.NewOrderConcurrency
	}
	cfg.Daemon.FleetNewOrderConcurrency = cfg.Daemon.NewOrderConcurrency
	if d.FleetNewOrders != nil {
		if *d.FleetNewOrders < 1 {
			v.errorf(v.lines.at("daemon", "fleet_new_order_concurrency"), "daemon.fleet_new_order_concurrency: want at least 1")
		}
		cfg.Daemon.FleetNewOrderConcurrency = *d.FleetNewOrders
	}
	if cfg.Daemon.CheckInterval <= 0 {
		v.errorf(v.lines.at("daemon", "check_interval"), "daemon.check_interval: must be positive")
	}
	if cfg.Daemon.RetryMin <= 0 || cfg.Daemon.RetryMax < cfg.Daemon.RetryMin {
		v.errorf(v.lines.at("daemon", "retry_min"), "daemon: want 0 < retry_min <= retry_max")
	}
}

func (v *validator) providers(ctx context.Context, raw *fileDoc, cfg *Config) {
	type described struct {
		meta plugin.Metadata
		err  error
	}
	cache := map[string]described{}
	for _, name := range slices.Sorted(maps.Keys(raw.Providers)) {
		p := raw.Providers[name]
		at := func(segs ...string) int { return v.lines.at(append([]string{"providers", name}, segs...)...) }
		if !instanceName.MatchString(name) {
			v.errorf(at(), "providers.%s: an instance name is lower-case letters, digits, '-' and '_'", name)
			continue
		}
		if p.Plugin == "" {
			if raw.reported("providers", name, "plugin") {
				continue
			}
			v.errorf(at(), "providers.%s: plugin is required (e.g. plugin = \"rfc2136\")", name)
			continue
		}
		key := p.Plugin + "\x00" + p.Path + "\x00" + p.SHA256
		d, ok := cache[key]
		if !ok {
			d.meta, d.err = v.opts.Describe(ctx, p.Plugin, p.Path, p.SHA256, cfg.PluginDirs, cfg.State)
			cache[key] = d
		}
		if d.err != nil {
			v.errorf(at("plugin"), "providers.%s: unknown or unusable plugin %q: %v", name, p.Plugin, d.err)
			continue
		}
		inst := Provider{Name: name, Plugin: p.Plugin, Path: p.Path, SHA256: p.SHA256, PassEnv: p.PassEnv, Meta: d.meta, Settings: map[string]string{}}
		for _, n := range p.PassEnv {
			if n == "" || n == "*" || strings.ContainsAny(n, "= ") || strings.HasPrefix(n, "ZONECERT_") {
				v.errorf(at("pass_env"), "providers.%s.pass_env: %q is not allowed (a variable name or PREFIX_*, never ZONECERT_*)", name, n)
			}
		}
		meta := chosenVariant(d.meta, p.Settings)
		inst.Meta = meta
		specs := map[string]plugin.SettingSpec{}
		for _, s := range meta.Settings {
			specs[s.Name] = s
		}
		for _, k := range slices.Sorted(maps.Keys(p.Settings)) {
			ln := at("settings", k)
			spec, known := specs[k]
			if !known {
				v.errorf(ln, "providers.%s: plugin %s has no setting %q (it has %s)", name, p.Plugin, k, settingNames(meta))
				continue
			}
			s, ok := scalar(p.Settings[k])
			if !ok {
				v.errorf(ln, "providers.%s.settings.%s: want a string, number or boolean", name, k)
				continue
			}
			val, literal, ok := v.resolve(s, spec.Secret, "providers", name, "settings", k)
			if literal && spec.Secret {
				v.literalSecrets = append(v.literalSecrets, ln)
			}
			if ok {
				inst.Settings[k] = val
			}
		}
		for _, s := range meta.Settings {
			// The resolvers setting is filled from [dns] resolvers.
			if _, set := p.Settings[s.Name]; s.Required && !set && s.Default == "" && s.Name != plugin.ResolversSetting {
				v.errorf(at(), "providers.%s: plugin %s needs setting %q", name, p.Plugin, s.Name)
			}
		}
		inst.Limits = v.limits(p.limitsDoc, name)
		cfg.Providers[name] = inst
	}
}

// chosenVariant is m with the settings of the provider a bridge plugin's
// selector setting chooses (e.g. lego's provider = "dnsupdate"): they are
// the instance's settings, checked here and hidden from its environment.
func chosenVariant(m plugin.Metadata, settings map[string]any) plugin.Metadata {
	choice, _ := scalar(settings[m.Selector])
	if m.Selector == "" || choice == "" {
		return m
	}
	noEnv := func(string) (string, bool) { return "", false }
	if out, ok := m.SelectVariant(map[string]string{m.Selector: choice}, noEnv); ok {
		return out
	}
	return m
}

func settingNames(m plugin.Metadata) string {
	names := make([]string, len(m.Settings))
	for i, s := range m.Settings {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func scalar(x any) (string, bool) {
	switch x := x.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// resolve turns a setting value into its content: "${NAME}" reads the
// environment, "file:PATH" a file (one trailing newline dropped), anything
// else is literal. A secret's file must be private, as a file holding a
// literal secret must. ok is false after an error (already recorded).
func (v *validator) resolve(s string, secret bool, path ...string) (val string, literal, ok bool) {
	ln := v.lines.at(path...)
	key := strings.Join(path, ".")
	if name, isEnv := strings.CutPrefix(s, "${"); isEnv && strings.HasSuffix(name, "}") {
		name = strings.TrimSuffix(name, "}")
		val, set := v.opts.LookupEnv(name)
		if !set {
			v.errorf(ln, "%s: environment variable %s is not set", key, name)
			return "", false, false
		}
		return val, false, true
	}
	if p, isFile := strings.CutPrefix(s, "file:"); isFile {
		if !filepath.IsAbs(p) {
			v.errorf(ln, "%s: file:%s is not an absolute path", key, p)
			return "", false, false
		}
		b, err := v.opts.ReadFile(p)
		if err != nil {
			v.errorf(ln, "%s: %v", key, err)
			return "", false, false
		}
		if secret {
			if err := PrivateFile(p); err != nil {
				v.errorf(ln, "%s: %v", key, err)
				return "", false, false
			}
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), false, true
	}
	return s, true, true
}

func (v *validator) certificates(raw *fileDoc, cfg *Config) {
	seen := map[string]int{}
	for i, c := range raw.Cert {
		at := func(segs ...string) int { return v.lines.at(append([]string{"certificate", idx(i)}, segs...)...) }
		where := fmt.Sprintf("certificate %q", c.Name)
		if c.Name == "" {
			where = fmt.Sprintf("certificate #%d", i+1)
			if !raw.reported("certificate", idx(i), "name") {
				v.errorf(at(), "%s: name is required", where)
			}
		} else if storage.ValidateKey("live/"+c.Name) != nil || storage.SafeSegment(c.Name) != c.Name || strings.Contains(c.Name, "/") {
			v.errorf(at("name"), "%s: use letters, digits and . _ - only in a name", where)
		} else if first, dup := seen[c.Name]; dup {
			v.errorf(at("name"), "%s: duplicate name (first at line %d)", where, first)
		} else {
			seen[c.Name] = at("name")
		}
		cert := Certificate{
			Name:           c.Name,
			KeyType:        v.keyType(c.KeyType, cfg.Defaults.KeyType, "certificate", idx(i), "key_type"),
			Profile:        cmp.Or(c.Profile, cfg.Defaults.Profile),
			PreferredChain: cmp.Or(c.PreferredChain, cfg.Defaults.PreferredChain),
			Hooks: Hooks{
				Pre:    cmp.Or(c.PreHook, cfg.Hooks.Pre),
				Post:   cmp.Or(c.PostHook, cfg.Hooks.Post),
				Deploy: cmp.Or(c.DeployHook, cfg.Hooks.Deploy),
			},
		}
		if len(c.Domains) == 0 && !raw.reported("certificate", idx(i), "domains") {
			v.errorf(at(), "%s: domains is required", where)
		}
		for j, d := range c.Domains {
			n, err := dns01.NormalizeDomain(d)
			if err != nil {
				v.errorf(at("domains", idx(j)), "%s: %v", where, err)
				continue
			}
			if !slices.Contains(cert.Domains, n) {
				cert.Domains = append(cert.Domains, n)
			}
		}
		switch {
		case c.Provider != "" && len(c.Providers) > 0:
			v.errorf(at("providers"), "%s: set provider or providers, not both", where)
		case c.Provider == "" && len(c.Providers) == 0:
			if raw.reported("certificate", idx(i), "provider") || raw.reported("certificate", idx(i), "providers") {
				break
			}
			v.errorf(at(), "%s: provider (an instance name) or providers (zone = instance) is required", where)
		case c.Provider != "":
			if _, ok := cfg.Providers[c.Provider]; !ok && raw.Providers[c.Provider].Plugin == "" {
				v.errorf(at("provider"), "%s: unknown provider %q (define [providers.%s])", where, c.Provider, c.Provider)
			}
			cert.Provider = c.Provider
		default:
			cert.Zones = map[string]string{}
			for _, zone := range slices.Sorted(maps.Keys(c.Providers)) {
				inst := c.Providers[zone]
				ln := at("providers", zone)
				z, err := dns01.NormalizeDomain(zone)
				if err != nil || strings.HasPrefix(z, "*.") {
					v.errorf(ln, "%s: %q is not a zone name", where, zone)
					continue
				}
				if _, ok := cfg.Providers[inst]; !ok && raw.Providers[inst].Plugin == "" {
					v.errorf(ln, "%s: unknown provider %q for zone %s (define [providers.%s])", where, inst, z, inst)
				}
				cert.Zones[z] = inst
			}
			for j, d := range cert.Domains {
				if _, ok := LongestZone(cert.Zones, strings.TrimPrefix(d, "*.")); !ok && len(cert.Zones) > 0 {
					v.errorf(at("domains", idx(j)), "%s: no provider covers %s (add its zone to providers)", where, d)
				}
			}
		}
		cfg.Certificates = append(cfg.Certificates, cert)
	}
}

// LongestZone returns the key of zones that name lies in, the longest one
// if several do. Names and keys are lower case without trailing dots.
func LongestZone(zones map[string]string, name string) (string, bool) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	best := ""
	for z := range zones {
		if (name == z || strings.HasSuffix(name, "."+z)) && len(z) > len(best) {
			best = z
		}
	}
	return best, best != ""
}
