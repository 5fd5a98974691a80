package preflight

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/dnsq"
)

// overrideZone returns the configured zone for the longest key name is at
// or below (dns01.Config.ZoneOverrides).
func overrideZone(m map[string]string, name string) string {
	best, z := -1, ""
	for k, v := range m {
		k = strings.ToLower(dns.Fqdn(k))
		if dns.IsSubDomain(k, name) && len(k) > best {
			best, z = len(k), strings.ToLower(dns.Fqdn(v))
		}
	}
	return z
}

// challengePath follows the challenge name's CNAME chain hop by hop,
// asking each zone's authoritative servers, and names the zone the record
// would be written to. It returns the zones the CA's lookups pass through.
func (c *Checker) challengePath(ctx context.Context, t Target, domain, name string) ([]Finding, []string) {
	bad := func(sev Severity, msg, fix string) Finding {
		return Finding{Check: CheckChallenge, Name: name, Severity: sev, Message: msg, Fix: fix}
	}
	var zones []string
	addZone := func(z string) {
		if !slices.Contains(zones, z) {
			zones = append(zones, z)
		}
	}
	// The SOA walk starts at the domain, never at the challenge name: a
	// resolver the CA shares would cache the name's negative answer.
	start := bareDomain(domain)
	if !dns.IsSubDomain(start, name) {
		start = dnsq.ParentName(name)
	}
	var hops []string
	cur := name
	seen := map[string]bool{}
	for {
		if seen[cur] {
			return []Finding{bad(Error, fmt.Sprintf("CNAME loop: %s -> %s", strings.Join(hops, " -> "), cur),
				"point the last CNAME of the chain at a name that is not a CNAME")}, zones
		}
		seen[cur] = true
		if len(hops) > dnsq.MaxCNAMEs {
			return []Finding{bad(Error, fmt.Sprintf("more than %d CNAMEs: %s", dnsq.MaxCNAMEs, strings.Join(hops, " -> ")),
				"shorten the CNAME chain to one or two hops")}, zones
		}
		hops = append(hops, cur)
		zname := overrideZone(t.Zones, cur)
		if zname == "" {
			var err error
			if zname, err = c.q.soaWalk(ctx, start); err != nil {
				if len(hops) > 1 {
					return []Finding{bad(Error, fmt.Sprintf("dangling CNAME: %s -> %s, and %s is in no zone the resolvers know (%v)",
						strings.Join(hops[:len(hops)-1], " -> "), cur, cur, err),
						"point the CNAME at a name in a zone that exists and your provider manages")}, zones
				}
				return []Finding{bad(Error, err.Error(), "check that the domain's zone is delegated and its servers answer")}, zones
			}
		}
		// Descend through zone cuts below the walk's result.
		var r *dns.Msg
		for range 4 {
			z, err := c.q.zoneServers(ctx, zname)
			if err != nil {
				return []Finding{bad(Error, fmt.Sprintf("zone %s: %v", zname, err), "fix the zone's NS records and their addresses")}, zones
			}
			// CNAME, not TXT: a server would follow an in-zone loop itself
			// and answer SERVFAIL.
			r, err = c.q.askZone(ctx, z, cur, dns.TypeCNAME, false)
			if err != nil {
				addZone(zname)
				msg := err.Error()
				if len(hops) > 1 {
					msg = "dangling CNAME target: " + msg
				}
				return []Finding{bad(Error, msg, "make every name server of "+zname+" answer authoritatively")}, zones
			}
			if child := referral(r, zname); child != "" && !r.Authoritative && dns.IsSubDomain(child, cur) {
				zname = child
				continue
			}
			// Servers of both a zone and its child answer from the child,
			// with its SOA.
			if child := childSOA(r, zname, cur); child != "" {
				zname = child
				continue
			}
			break
		}
		addZone(zname)
		next := ""
		for _, rr := range r.Answer {
			if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, cur) {
				next = strings.ToLower(cn.Target)
			}
		}
		if next == "" {
			var out []Finding
			via := ""
			if len(hops) > 1 {
				via = " via " + strings.Join(hops, " -> ")
			}
			msg := fmt.Sprintf("TXT goes to %s in zone %s%s", cur, zname, via)
			if t.ProviderZones != nil {
				if !slices.Contains(t.ProviderZones, zname) {
					out = append(out, bad(Error, msg+fmt.Sprintf(", which the provider does not manage (it has %s)", strings.Join(t.ProviderZones, ", ")),
						"point the CNAME into a zone of this provider, or use the provider of "+zname))
					return out, zones
				}
				msg += ", managed by the provider"
			}
			return append(out, Finding{Check: CheckChallenge, Name: name, Severity: OK, Message: msg, Zone: zname}), zones
		}
		cur = next
		start = next
		if p := dnsq.ParentName(next); p != "." {
			start = p
		}
	}
}

// childSOA returns the zone below zoneName holding name whose SOA an
// authoritative answer carries, or "".
func childSOA(r *dns.Msg, zoneName, name string) string {
	if !r.Authoritative {
		return ""
	}
	for _, rr := range append(slices.Clone(r.Answer), r.Ns...) {
		if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(zoneName, soa.Hdr.Name) && !strings.EqualFold(soa.Hdr.Name, zoneName) &&
			dns.IsSubDomain(soa.Hdr.Name, name) {
			return strings.ToLower(soa.Hdr.Name)
		}
	}
	return ""
}
