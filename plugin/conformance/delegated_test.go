package conformance_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// userZone holds the challenge names of the delegated tests; each is a
// CNAME to a name in zone, where the provider writes.
const userZone = "user.test."

// cnames is the user's zone: CNAMEs only, served authoritatively.
type cnames struct {
	mu sync.Mutex
	m  map[string]string // owner → target, both absolute
}

func (c *cnames) set(owner, target string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]string{}
	}
	c.m[dns.CanonicalName(owner)] = dns.CanonicalName(target)
}

func (c *cnames) get(owner string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[dns.CanonicalName(owner)]
	return t, ok
}

// resolve follows the CNAMEs from owner to the end of the chain.
func (c *cnames) resolve(owner string) string {
	cur := dns.CanonicalName(owner)
	for range 8 {
		next, ok := c.get(cur)
		if !ok {
			break
		}
		cur = next
	}
	return cur
}

// serve runs the user's zone on 127.0.0.1 until t ends.
func (c *cnames) serve(t *testing.T) string {
	t.Helper()
	pc, ln, err := dnstest.ListenPair()
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		if !dns.IsSubDomain(userZone, dns.CanonicalName(q.Name)) {
			m.Rcode = dns.RcodeRefused
			_ = w.WriteMsg(m)
			return
		}
		m.Authoritative = true
		if target, ok := c.get(q.Name); ok {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: target})
		} else {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go func() { _ = s.ActivateAndServe() }()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// delegatedProvider is a memProvider that, like lego's providers through
// the bridge, derives where it writes from the record's identifier and
// refuses a record whose FQDN is not where that identifier's challenge
// name leads.
type delegatedProvider struct {
	*memProvider
	c *cnames
}

func (p *delegatedProvider) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	var ok []plugin.Record
	var out []plugin.Result
	for _, r := range recs {
		if target := p.c.resolve("_acme-challenge." + strings.TrimPrefix(r.Identifier, "*.") + "."); target != r.FQDN {
			out = append(out, plugin.Result{ID: r.ID, Err: plugin.Errorf(plugin.CodeConflict, false,
				"identifier %q leads to %s, not %s", r.Identifier, target, r.FQDN)})
			continue
		}
		ok = append(ok, r)
	}
	res, err := p.memProvider.Present(ctx, ok)
	if err != nil {
		return nil, err
	}
	return append(out, res...), nil
}

// delegated is an acme-dns-like service in zone (two values per name, no
// delete, one account per name) reached through CNAMEs from userZone.
func delegated(t *testing.T, timeout time.Duration) (conformance.Config, *store, *cnames) {
	s := &store{zone: zone, keep: 2}
	c := &cnames{}
	cfg := targetStore(t, s, noDelete, timeout)
	cfg.Target = conformance.InProcess("delegated", func(context.Context) (plugin.Provider, error) {
		return &delegatedProvider{memProvider: newProvider(s, noDelete), c: c}, nil
	})
	cfg.Capabilities = plugin.Capabilities{NoDelete: true, MaxValuesPerName: 2, ProvisionedNames: true, ChallengeDetails: true}
	cfg.Delegated = &conformance.Delegation{Zone: userZone, Nameservers: []string{c.serve(t)}}
	return cfg, s, c
}

// TestDelegatedProviderPassesWithNames: challenge names provisioned in
// advance, each a CNAME to its own account's name.
func TestDelegatedProviderPassesWithNames(t *testing.T) {
	cfg, s, c := delegated(t, 10*time.Second)
	for i := range conformance.NamesNeeded(cfg) {
		n := fmt.Sprintf("_acme-challenge.d%d.%s", i, userZone)
		target := fmt.Sprintf("acct-%d.%s", i, zone)
		s.provision(target)
		c.set(n, target)
		cfg.Names = append(cfg.Names, n)
	}
	conformance.Run(t, cfg)
}

// TestDelegatedProviderPassesWithProvisionHook: the kit makes up the
// challenge names and the hook delegates each, through two CNAMEs.
func TestDelegatedProviderPassesWithProvisionHook(t *testing.T) {
	cfg, s, c := delegated(t, 10*time.Second)
	var mu sync.Mutex
	n := 0
	cfg.Provision = func(_ context.Context, name string) error {
		mu.Lock()
		n++
		hop := fmt.Sprintf("hop-%d.%s", n, userZone)
		target := fmt.Sprintf("acct-%d.%s", n, zone)
		mu.Unlock()
		if !strings.HasSuffix(name, userZone) {
			return fmt.Errorf("asked to provision %s, outside the user's zone", name)
		}
		s.provision(target)
		c.set(name, hop)
		c.set(hop, target)
		return nil
	}
	conformance.Run(t, cfg)
	if n == 0 {
		t.Fatal("the kit never called the provisioning hook")
	}
}

// TestDelegatedConfigErrors: a delegated run needs its zone and servers,
// and its names in the user's zone.
func TestDelegatedConfigErrors(t *testing.T) {
	for name, mod := range map[string]func(*conformance.Config){
		"no zone":        func(c *conformance.Config) { c.Delegated.Zone = "" },
		"no nameservers": func(c *conformance.Config) { c.Delegated.Nameservers = nil },
		"names in the target zone": func(c *conformance.Config) {
			c.Names = []string{"acct-1." + zone}
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, _, _ := delegated(t, time.Second)
			mod(&cfg)
			if err := conformance.CheckConfig(cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
