package preflight

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/dnsq"
)

// querier asks the configured resolvers (recursion desired) and
// authoritative addresses (no recursion), through the dnsq.Client that
// core/dns01 uses too. forTarget copies it with other resolvers and port
// and the same client.
type querier struct {
	dns       *dnsq.Client
	resolvers []string
	nsPort    uint16
}

// recursive asks resolvers in turn (dnsq.Client.Recursive).
func (q *querier) recursive(ctx context.Context, resolvers []string, name string, qtype uint16) (*dns.Msg, error) {
	return q.dns.Recursive(ctx, resolvers, name, qtype)
}

func (q *querier) addrPort(a netip.Addr) string { return netip.AddrPortFrom(a, q.nsPort).String() }

// authoritative asks one address directly, without recursion.
func (q *querier) authoritative(ctx context.Context, a netip.Addr, name string, qtype uint16, netw string, dnssec bool) (*dns.Msg, error) {
	return q.dns.Exchange(ctx, dnsq.Query(name, qtype, false, dnssec), q.addrPort(a), netw)
}

// nameserver is one NS host and its addresses.
type nameserver struct {
	Name  string
	Addrs []netip.Addr
	Err   error // resolving the host failed
}

// zone is a zone and its name servers as the resolvers see them.
type zone struct {
	Name        string
	Nameservers []nameserver
}

func (z zone) addrs() []netip.Addr {
	var out []netip.Addr
	for _, ns := range z.Nameservers {
		out = append(out, ns.Addrs...)
	}
	return out
}

// soaWalk finds the zone holding name through the resolvers
// (dnsq.Client.SOAWalk).
func (q *querier) soaWalk(ctx context.Context, name string) (string, error) {
	return q.dns.SOAWalk(ctx, q.resolvers, name)
}

// zoneServers returns zone's NS hosts (from the resolvers) with their
// addresses; a host that does not resolve keeps its error.
func (q *querier) zoneServers(ctx context.Context, name string) (zone, error) {
	z := zone{Name: name}
	r, err := q.recursive(ctx, q.resolvers, name, dns.TypeNS)
	if err != nil {
		return z, err
	}
	for _, rr := range r.Answer {
		if ns, ok := rr.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, name) {
			host := strings.ToLower(ns.Ns)
			addrs, err := q.hostAddrs(ctx, host)
			z.Nameservers = append(z.Nameservers, nameserver{Name: host, Addrs: addrs, Err: err})
		}
	}
	if len(z.Nameservers) == 0 {
		return z, fmt.Errorf("zone %s has no NS records at the resolvers (%s)", name, dns.RcodeToString[r.Rcode])
	}
	slices.SortFunc(z.Nameservers, func(a, b nameserver) int { return strings.Compare(a.Name, b.Name) })
	return z, nil
}

// hostAddrs resolves a host to its IPv4 and IPv6 addresses.
func (q *querier) hostAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	return q.dns.HostAddrs(ctx, q.resolvers, host)
}

// askZone asks z's addresses in turn until one answers authoritatively or
// with a referral below z.
func (q *querier) askZone(ctx context.Context, z zone, name string, qtype uint16, dnssec bool) (*dns.Msg, error) {
	var errs []string
	for _, a := range z.addrs() {
		r, err := q.authoritative(ctx, a, name, qtype, "udp", dnssec)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, fmt.Sprintf("%s: %v", q.addrPort(a), err))
		case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
			errs = append(errs, fmt.Sprintf("%s: %s", q.addrPort(a), dns.RcodeToString[r.Rcode]))
		case !r.Authoritative && referral(r, z.Name) == "":
			errs = append(errs, fmt.Sprintf("%s: not authoritative for %s", q.addrPort(a), z.Name))
		default:
			return r, nil
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("zone %s: no name server address", z.Name)
	}
	return nil, fmt.Errorf("asking the name servers of %s about %s: %s", z.Name, name, strings.Join(errs, "; "))
}

// referral returns the child zone a non-authoritative answer delegates to.
func referral(r *dns.Msg, zoneName string) string {
	for _, rr := range r.Ns {
		if ns, ok := rr.(*dns.NS); ok && dns.IsSubDomain(zoneName, ns.Hdr.Name) && !strings.EqualFold(ns.Hdr.Name, zoneName) {
			return strings.ToLower(ns.Hdr.Name)
		}
	}
	return ""
}
