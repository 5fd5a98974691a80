// Package conformance is the public test kit every zonecert DNS provider
// plugin runs, built in or third party. It drives a provider, in process or
// as a built plugin binary, against the zone's real authoritative
// nameservers and checks the semantics written on [plugin.Provider]:
//
//   - after Present, every given nameserver serves the value;
//   - Present appends: two values at one name coexist (wildcard plus apex);
//   - CleanUp removes exactly the value given and leaves the others;
//   - both are idempotent: Present twice leaves one copy, CleanUp of an
//     absent value succeeds;
//   - concurrent calls on one instance, and batches spanning several names,
//     all land and all clean;
//   - cleanup works from a fresh instance (a new process for binaries) that
//     only has the State Present returned, or no State at all;
//   - a cancelled or expired context makes a call return promptly with an
//     error;
//   - results match record IDs one to one;
//   - cleanup restores a value it did not create (a user's record at the
//     same name) exactly, TTL included;
//   - a zone the provider does not host, or a name outside the record's
//     zone, gives a per-record [plugin.CodeZoneNotFound] error (or a call
//     error), never success.
//
// Use it from a test:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Config{
//			Target:      conformance.InProcess("mydns", newProvider),
//			Zone:        "example.test.",
//			Nameservers: []string{"127.0.0.1:5353"},
//		})
//	}
//
// A provider whose API cannot meet the whole contract declares its limits
// in [Config.Capabilities] (the same ones its plugin declares): with
// NoDelete the kit expects every value to stay after CleanUp, with
// MaxValuesPerName it never puts more values at one name, and with
// ProvisionedNames it writes only [Config.Names] or the names it hands to
// [Config.Provision]. Declared limits are checked, not trusted: a provider
// that deletes while declaring NoDelete, or keeps fewer values than it
// declares, fails.
//
// A provider that publishes into delegated targets (the user's
// _acme-challenge name is a CNAME to a name in another zone, the
// provider's: acme-dns, a challenge zone) runs with [Config.Delegated]:
// the kit then follows each challenge name's CNAMEs as zonecert does and
// sends the record zonecert would send, at the target, with the identifier
// of the challenge name. Checks its declared limits rule out are skipped,
// each with the reason printed (go test -v shows it).
//
// Every check is a subtest named after it (TestConformance/mydns/two-values-coexist)
// and asserts real outcomes at the nameservers. Records the kit created are
// swept when the test ends, through a fresh instance.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
)

// Target is the provider under test.
type Target struct {
	// Name labels the subtests.
	Name string
	// Open starts a FRESH provider instance each call (a new process for
	// binaries), so the kit can check cleanup from persisted state by an
	// instance that never saw Present. The kit closes each instance it
	// opens.
	Open func(ctx context.Context) (plugin.Provider, io.Closer, error)
}

// InProcess is a Target whose instances are built by open. If a provider
// also implements io.Closer, the kit closes it when done with it.
func InProcess(name string, open func(ctx context.Context) (plugin.Provider, error)) Target {
	return Target{Name: name, Open: func(ctx context.Context) (plugin.Provider, io.Closer, error) {
		p, err := open(ctx)
		if err != nil {
			return nil, nil, err
		}
		if c, ok := p.(io.Closer); ok {
			return p, c, nil
		}
		return p, nopCloser{}, nil
	}}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// Config says what to test and where to look.
type Config struct {
	Target Target
	// Zone is a zone the provider can write, e.g. "example.test.". The kit
	// only creates names below a random label under it (see Prefix).
	Zone string
	// Nameservers are host:port addresses of the zone's authoritative
	// servers. The kit queries each directly and non-recursively (UDP,
	// falling back to TCP on truncation), as a CA does.
	Nameservers []string
	// Timeout bounds each wait for visibility or removal and each provider
	// call; 0 means 30s.
	Timeout time.Duration
	// PollInterval is the time between rounds of queries while waiting;
	// 0 means 100ms.
	PollInterval time.Duration
	// TTL of the records presented; 0 means 60.
	TTL uint32
	// Prefix is the label under Zone that holds every name the kit
	// creates, so parallel runs do not collide; empty means a random
	// "zc-conformance-<hex>".
	Prefix string
	// Concurrency is how many goroutines call one instance at once in the
	// concurrent check; 0 means 4.
	Concurrency int
	// Serial runs the checks one after another instead of in parallel,
	// for providers whose API rate limits are tight.
	Serial bool

	// Capabilities are the limits the provider declares (NoDelete,
	// MaxValuesPerName, ProvisionedNames; other fields are ignored), and
	// ChallengeDetails: the kit then makes each value from a key
	// authorization and sends the details, as the host does. The
	// kit checks the behaviour they describe. A provider that reports its
	// capabilities (a plugin binary through the host) must report these.
	Capabilities plugin.Capabilities
	// Names, when set, are the only names the kit writes: absolute names
	// within Zone that the provider can write, at least NamesNeeded(cfg)
	// of them, each used by one check. Use it for a provider that writes
	// only names provisioned in advance. In a Delegated run they are
	// challenge names within Delegated.Zone, each a CNAME into Zone.
	Names []string
	// Provision, when set, is called with every name the kit makes up
	// (under Prefix), before the kit writes there, to set the name up (to
	// register an account for it, say). It is ignored when Names is set.
	// In a Delegated run it gets the challenge name, and must make it a
	// CNAME into Zone.
	Provision func(ctx context.Context, fqdn string) error
	// Foreign, when set, creates a TXT value at fqdn outside the provider,
	// as a user's own record, and returns a function removing it. The
	// foreign-rrset-restored check then proves CleanUp leaves it exactly as
	// it was. Without it, the check creates that value with the provider,
	// in an earlier call and with another TTL.
	Foreign func(ctx context.Context, fqdn, value string, ttl uint32) (remove func(context.Context) error, err error)
	// Skip names checks not to run, each with the reason (a known defect
	// and its issue, say); they are reported as skipped with that reason.
	// An unknown check name is a Config error.
	Skip map[string]string

	// Delegated, when set, tests a provider that publishes into delegated
	// targets: the challenge names live in the user's zone
	// (Delegated.Zone), each a CNAME to a name in Zone, where the provider
	// writes (acme-dns, a challenge zone). See [Delegation].
	Delegated *Delegation
}

// Delegation describes the user's zone of a delegated run. For each name
// a check tests, the kit takes a challenge name in Delegation.Zone
// (_acme-challenge.<label>.<Prefix>.<Delegation.Zone>, or the next of
// Config.Names, which then lie in Delegation.Zone), calls Config.Provision
// with it (to create its CNAME, say), and follows its CNAMEs as zonecert
// does before publishing: it asks each of Delegation.Nameservers directly
// and non-recursively, until they agree on a name within Config.Zone. The
// record it sends is zonecert's: FQDN is that target, Zone is
// Config.Zone, and, with ChallengeDetails, Identifier is the domain below
// _acme-challenge of the challenge name. Values are checked where they
// land: at the target, on Config.Nameservers.
type Delegation struct {
	// Zone is the user's zone holding the challenge names, e.g.
	// "example.test.".
	Zone string
	// Nameservers are Zone's authoritative servers (host:port), which
	// serve the CNAMEs.
	Nameservers []string
}

// NamesNeeded is how many names a run with cfg writes: the length
// Config.Names must have.
func NamesNeeded(cfg Config) int {
	c := cfg.Concurrency
	if c <= 0 {
		c = defaultConcurrency
	}
	n := 0
	for _, ch := range checks() {
		n += ch.names
		if ch.perWorker {
			n += 2 * c
		}
	}
	return n
}

const defaultConcurrency = 4

func (c Config) withDefaults() (Config, error) {
	if c.Target.Open == nil {
		return c, errors.New("conformance: Config.Target.Open is nil")
	}
	if c.Target.Name == "" {
		c.Target.Name = "provider"
	}
	if c.Zone == "" {
		return c, errors.New("conformance: Config.Zone is empty")
	}
	if _, ok := dns.IsDomainName(c.Zone); !ok {
		return c, errors.New("conformance: Config.Zone is not a domain name: " + c.Zone)
	}
	c.Zone = dns.CanonicalName(c.Zone)
	if len(c.Nameservers) == 0 {
		return c, errors.New("conformance: Config.Nameservers is empty")
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.TTL == 0 {
		c.TTL = 60
	}
	if c.Prefix == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Prefix = "zc-conformance-" + hex.EncodeToString(b[:])
	}
	if c.Concurrency <= 0 {
		c.Concurrency = defaultConcurrency
	}
	if c.Capabilities.MaxValuesPerName < 0 {
		return c, errors.New("conformance: Config.Capabilities.MaxValuesPerName is negative")
	}
	namesZone := c.Zone
	if d := c.Delegated; d != nil {
		if _, ok := dns.IsDomainName(d.Zone); !ok || d.Zone == "" {
			return c, errors.New("conformance: Config.Delegated.Zone is not a domain name: " + d.Zone)
		}
		if len(d.Nameservers) == 0 {
			return c, errors.New("conformance: Config.Delegated.Nameservers is empty")
		}
		c.Delegated = &Delegation{Zone: dns.CanonicalName(d.Zone), Nameservers: d.Nameservers}
		namesZone = c.Delegated.Zone
	}
	for i, n := range c.Names {
		if _, ok := dns.IsDomainName(n); !ok || !dns.IsSubDomain(namesZone, dns.CanonicalName(n)) {
			return c, fmt.Errorf("conformance: Config.Names[%d] %q is not a name within %s", i, n, namesZone)
		}
		c.Names[i] = dns.CanonicalName(n)
	}
	for name, why := range c.Skip {
		known := false
		for _, ch := range checks() {
			known = known || ch.name == name
		}
		if !known || why == "" {
			return c, fmt.Errorf("conformance: Config.Skip[%q]: want a check name and a reason", name)
		}
	}
	if len(c.Names) > 0 && len(c.Names) < NamesNeeded(c) {
		return c, fmt.Errorf("conformance: Config.Names has %d names; the checks need %d (see NamesNeeded)", len(c.Names), NamesNeeded(c))
	}
	return c, nil
}

// Run runs every check as a subtest of t, grouped under cfg.Target.Name,
// and returns when all have finished and the records they created have been
// swept. A bad Config fails t at once.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	t.Run(cfg.Target.Name, func(t *testing.T) {
		h := &harness{cfg: cfg, names: slices.Clone(cfg.Names)}
		t.Cleanup(func() { h.sweep(t) })
		for _, c := range checks() {
			t.Run(c.name, func(t *testing.T) {
				if why, ok := cfg.Skip[c.name]; ok {
					t.Skip("skipped by Config.Skip: " + why)
				}
				if !cfg.Serial {
					t.Parallel()
				}
				c.run(t, h)
			})
		}
	})
}
