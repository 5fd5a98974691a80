package preflight

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dnsq"
	"github.com/zonecert/zonecert/plugin"
)

// Defaults for zero Config fields.
const (
	DefaultQueryTimeout = 2 * time.Second
	// DefaultCacheFor is how long Preflight reuses a zone's or a name's
	// verdict, so a renewal storm asks once.
	DefaultCacheFor = 3 * time.Minute
	// expiringSoon is when an RRSIG close to its end is worth a warning.
	expiringSoon = 72 * time.Hour
)

// Config configures a Checker. Zero values take the defaults.
type Config struct {
	// Resolvers are the recursive resolvers (host:port) the CA's view is
	// asked through, as for dns01.Config.Resolvers. Required.
	Resolvers []string
	// SystemResolvers, when set and different, are compared with the
	// authoritative view (split horizon; doctor only).
	SystemResolvers []string
	// NameserverPort is the port authoritative servers are asked on; 0
	// means 53 (other values are for tests).
	NameserverPort int
	QueryTimeout   time.Duration
	CacheFor       time.Duration
	Now            func() time.Time
	// HTTPClient talks to the CA (CheckCA); nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Target is what one order needs from DNS.
type Target struct {
	// Domains are normalized identifiers (core.NormalizeRequest), a
	// wildcard with its "*.".
	Domains []string
	// Method is the validation method (acme.ChallengeDNS01 when empty or
	// "auto").
	Method string
	// AccountURI is the ACME account (for accounturi and the
	// dns-account-01 label); empty when not known yet.
	AccountURI string
	// CAAIdentities are the CA's issuer domain names (its directory's
	// meta.caaIdentities).
	CAAIdentities []string
	// Aliases and Zones are dns01.Config.Aliases and ZoneOverrides.
	Aliases map[string]string
	Zones   map[string]string
	// PropagationTimeout is compared with negative caching; 0 means 2 min.
	PropagationTimeout time.Duration
	// ProviderZones are the zones the provider manages (plugin.ZoneLister),
	// nil when unknown.
	ProviderZones []string
	// Resolvers and NameserverPort, when set, replace Config's for this
	// target (an order's own dns settings).
	Resolvers      []string
	NameserverPort int
}

// Checker runs the checks. It is safe for concurrent use; Preflight caches
// verdicts per zone and per name for Config.CacheFor.
type Checker struct {
	cfg   Config
	q     *querier
	now   func() time.Time
	cache *memoStore // shared with the Checkers forTarget derives
}

type memoStore struct {
	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	at       time.Time
	findings []Finding
	zones    []string
}

// New returns a Checker; it does no I/O.
func New(cfg Config) *Checker {
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.CacheFor <= 0 {
		cfg.CacheFor = DefaultCacheFor
	}
	port := uint16(53)
	if cfg.NameserverPort > 0 {
		port = uint16(cfg.NameserverPort)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Checker{cfg: cfg, now: now, cache: &memoStore{m: map[string]cached{}},
		q: &querier{dns: &dnsq.Client{Timeout: cfg.QueryTimeout}, resolvers: cfg.Resolvers, nsPort: port}}
}

// forTarget returns a Checker asking t's resolvers and port where t sets
// them (an order's own settings), sharing c's cache.
func (c *Checker) forTarget(t Target) *Checker {
	if len(t.Resolvers) == 0 && t.NameserverPort == 0 {
		return c
	}
	d := *c
	q := *c.q
	if len(t.Resolvers) > 0 {
		q.resolvers = t.Resolvers
		d.cfg.Resolvers = t.Resolvers
	}
	if t.NameserverPort > 0 {
		q.nsPort = uint16(t.NameserverPort)
	}
	d.q = &q
	return &d
}

// bareDomain drops a wildcard's "*." and makes the name absolute.
func bareDomain(d string) string {
	return strings.ToLower(dns.Fqdn(strings.TrimPrefix(d, "*.")))
}

// challengeName is where the method puts the record for domain (before
// CNAMEs), and whether it is an alias.
func (t Target) challengeName(domain string) string {
	bare := bareDomain(domain)
	if a, ok := t.Aliases[strings.TrimSuffix(bare, ".")]; ok {
		return strings.ToLower(dns.Fqdn(a))
	}
	if a, ok := t.Aliases[bare]; ok {
		return strings.ToLower(dns.Fqdn(a))
	}
	switch t.Method {
	case acme.ChallengeDNSPersist01:
		return "_validation-persist." + bare
	case acme.ChallengeDNSAccount01:
		if t.AccountURI != "" {
			return acme.DNSAccountLabel(t.AccountURI) + "._acme-challenge." + bare
		}
	}
	return "_acme-challenge." + bare
}

func (t Target) method() string {
	if t.Method == "" || t.Method == "auto" {
		return acme.ChallengeDNS01
	}
	return t.Method
}

// memo returns the cached verdict of key, or computes and caches it.
func (c *Checker) memo(key string, f func() ([]Finding, []string)) ([]Finding, []string) {
	key = strings.Join(c.q.resolvers, ",") + fmt.Sprintf("|%d|", c.q.nsPort) + key
	c.cache.mu.Lock()
	e, ok := c.cache.m[key]
	c.cache.mu.Unlock()
	if ok && c.now().Sub(e.at) < c.cfg.CacheFor {
		return e.findings, e.zones
	}
	fs, zs := f()
	if ctxErr(fs) {
		return fs, zs // an interrupted check is not a verdict
	}
	c.cache.mu.Lock()
	c.cache.m[key] = cached{at: c.now(), findings: fs, zones: zs}
	c.cache.mu.Unlock()
	return fs, zs
}

// ctxErr reports whether a finding came from a canceled or expired
// context rather than from DNS.
func ctxErr(fs []Finding) bool {
	for _, f := range fs {
		if strings.Contains(f.Message, context.Canceled.Error()) || strings.Contains(f.Message, context.DeadlineExceeded.Error()) {
			return true
		}
	}
	return false
}

// cheap runs the checks every order runs: the challenge path, CAA, and
// for every zone the path touches, delegation reachability and DNSSEC.
func (c *Checker) cheap(ctx context.Context, t Target, useCache bool) []Finding {
	run := func(key string, f func() ([]Finding, []string)) ([]Finding, []string) {
		if !useCache {
			return f()
		}
		return c.memo(key, f)
	}
	var out []Finding
	zoneSet := map[string]bool{}
	var zones []string
	seenName := map[string]bool{}
	for _, d := range t.Domains {
		name := t.challengeName(d)
		if !seenName[name] {
			seenName[name] = true
			key := "path|" + name + "|" + strings.Join(t.ProviderZones, ",") + "|" + zoneKey(t.Zones)
			fs, zs := run(key, func() ([]Finding, []string) { return c.challengePath(ctx, t, d, name) })
			out = append(out, fs...)
			for _, z := range zs {
				if !zoneSet[z] {
					zoneSet[z] = true
					zones = append(zones, z)
				}
			}
		}
		key := "caa|" + d + "|" + t.method() + "|" + t.AccountURI + "|" + strings.Join(t.CAAIdentities, ",")
		fs, _ := run(key, func() ([]Finding, []string) { return c.checkCAA(ctx, t, d), nil })
		out = append(out, fs...)
	}
	signedChecked := map[string]bool{}
	for _, z := range zones {
		fs, _ := run("delegation|"+z, func() ([]Finding, []string) { return c.checkDelegation(ctx, z, false), nil })
		out = append(out, fs...)
		// The DNSSEC chain from below the TLD down to z, link by link.
		for cur, depth := z, 0; cur != "" && !signedChecked[cur] && depth < 8; depth++ {
			signedChecked[cur] = true
			fs, up := run("dnssec|"+cur, func() ([]Finding, []string) { return c.checkDNSSEC(ctx, cur) })
			out = append(out, fs...)
			cur = ""
			if len(up) > 0 {
				cur = up[0]
			}
		}
	}
	return out
}

func zoneKey(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// Preflight runs the cheap checks (cached) and returns Problems holding
// the errors, or nil when nothing would surely fail the order. Warnings
// never stop an order.
func (c *Checker) Preflight(ctx context.Context, t Target) error {
	c = c.forTarget(t)
	if len(c.q.resolvers) == 0 {
		return nil // nothing to ask: the order's own lookups will say
	}
	var p Problems
	for _, f := range c.cheap(ctx, t, true) {
		if f.Severity == Error {
			p = append(p, f)
		}
	}
	if len(p) > 0 {
		return p
	}
	return nil
}

// Doctor runs every DNS check on t, uncached: the cheap ones, the full
// delegation (UDP and TCP, serials, the parent's NS set), negative caching
// and split horizon. The CA and provider checks are separate (CheckCA,
// WriteTest).
func (c *Checker) Doctor(ctx context.Context, t Target) []Finding {
	c = c.forTarget(t)
	out := c.cheap(ctx, t, false)
	var zones []string
	for _, f := range out {
		if f.Check == CheckDelegation && !slices.Contains(zones, f.Name) {
			zones = append(zones, f.Name)
		}
	}
	// The cheap pass checked reachability; the full pass replaces it.
	out = slices.DeleteFunc(out, func(f Finding) bool { return f.Check == CheckDelegation })
	for _, z := range zones {
		out = append(out, c.checkDelegation(ctx, z, true)...)
		out = append(out, c.checkNegativeCache(ctx, z, t.PropagationTimeout)...)
		out = append(out, c.checkSplitHorizon(ctx, z)...)
	}
	return out
}

// ProviderZones asks p for its zones when it can list them; nil otherwise.
func ProviderZones(ctx context.Context, p plugin.Provider) []string {
	zl, ok := p.(plugin.ZoneLister)
	if !ok {
		return nil
	}
	zs, err := zl.ListZones(ctx)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(zs))
	for _, z := range zs {
		out = append(out, strings.ToLower(dns.Fqdn(z)))
	}
	return out
}
