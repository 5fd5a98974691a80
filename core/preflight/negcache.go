package preflight

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// checkNegativeCache warns when a negative answer for a name of zone is
// cached (RFC 2308 §5: the lesser of the SOA's TTL and MINIMUM) longer
// than the propagation timeout: one early query, by anyone, outlasts the
// wait.
func (c *Checker) checkNegativeCache(ctx context.Context, zoneName string, timeout time.Duration) []Finding {
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	z, err := c.q.zoneServers(ctx, zoneName)
	if err != nil {
		return nil
	}
	r, err := c.q.askZone(ctx, z, zoneName, dns.TypeSOA, false)
	if err != nil {
		return nil
	}
	for _, rr := range r.Answer {
		soa, ok := rr.(*dns.SOA)
		if !ok {
			continue
		}
		neg := time.Duration(min(soa.Minttl, soa.Hdr.Ttl)) * time.Second
		if neg > timeout {
			return []Finding{{Check: CheckNegativeCache, Name: zoneName, Severity: Warning,
				Message: fmt.Sprintf("negative answers are cached for %s (SOA MINIMUM %d, TTL %d), longer than the propagation timeout %s",
					neg, soa.Minttl, soa.Hdr.Ttl, timeout),
				Fix: "lower the SOA MINIMUM to 300 or less, or raise --propagation-timeout"}}
		}
		return []Finding{{Check: CheckNegativeCache, Name: zoneName, Severity: OK,
			Message: fmt.Sprintf("negative answers are cached for %s at most", neg)}}
	}
	return nil
}

// checkSplitHorizon compares the zone's SOA serial and NS set through the
// system resolvers with the authoritative view. The CA sees the public,
// authoritative one.
func (c *Checker) checkSplitHorizon(ctx context.Context, zoneName string) []Finding {
	if len(c.cfg.SystemResolvers) == 0 || slices.Equal(c.cfg.SystemResolvers, c.cfg.Resolvers) {
		return nil
	}
	z, err := c.q.zoneServers(ctx, zoneName)
	if err != nil {
		return nil
	}
	auth, err := c.q.askZone(ctx, z, zoneName, dns.TypeSOA, false)
	if err != nil {
		return nil
	}
	local, err := c.q.recursive(ctx, c.cfg.SystemResolvers, zoneName, dns.TypeSOA)
	f := func(sev Severity, msg, fix string) []Finding {
		return []Finding{{Check: CheckSplitHorizon, Name: zoneName, Severity: sev, Message: msg, Fix: fix}}
	}
	fix := "the CA sees the authoritative view; test with --dns-resolver pointing at a public resolver, or fix the internal view"
	if err != nil {
		return f(Warning, "the system resolvers cannot answer for the zone: "+err.Error(), fix)
	}
	a, l := soaOf(auth, zoneName), soaOf(local, zoneName)
	switch {
	case l == nil:
		return f(Warning, fmt.Sprintf("the system resolvers have no SOA for %s (%s); the authoritative servers do", zoneName, dns.RcodeToString[local.Rcode]), fix)
	case a != nil && (l.Serial != a.Serial || !strings.EqualFold(l.Ns, a.Ns)):
		return f(Warning, fmt.Sprintf("the system resolvers see SOA %s serial %d, the authoritative servers %s serial %d: split horizon", l.Ns, l.Serial, a.Ns, a.Serial), fix)
	}
	return f(OK, "the system resolvers see the authoritative view", "")
}

func soaOf(r *dns.Msg, name string) *dns.SOA {
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, name) {
			return soa
		}
	}
	return nil
}
