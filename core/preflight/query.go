package preflight

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size advertised, as core/dns01 does.
const ednsSize = 1232

// maxCNAMEs bounds a chain followed hop by hop, as core/dns01 does.
const maxCNAMEs = 8

// querier asks the configured resolvers (recursion desired) and
// authoritative addresses (no recursion).
type querier struct {
	resolvers []string
	nsPort    uint16
	timeout   time.Duration
}

func newQuery(name string, qtype uint16, recurse, dnssec bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = recurse
	m.SetEdns0(ednsSize, dnssec)
	return m
}

// exchange sends m over netw ("udp" or "tcp"); a truncated UDP answer is
// asked again over TCP.
func (q *querier) exchange(ctx context.Context, m *dns.Msg, server, netw string) (*dns.Msg, error) {
	c := &dns.Client{Net: netw, Timeout: q.timeout, UDPSize: ednsSize}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated && netw == "udp" {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, err
	}
	if r.Id != m.Id {
		return nil, errors.New("answer id mismatch")
	}
	return r, nil
}

// recursive asks resolvers in turn until one answers NOERROR or NXDOMAIN.
func (q *querier) recursive(ctx context.Context, resolvers []string, name string, qtype uint16) (*dns.Msg, error) {
	var errs []string
	for _, s := range resolvers {
		r, err := q.exchange(ctx, newQuery(name, qtype, true, false), s, "udp")
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, fmt.Sprintf("%s: %v", s, err))
		case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
			errs = append(errs, fmt.Sprintf("%s: %s", s, dns.RcodeToString[r.Rcode]))
		default:
			return r, nil
		}
	}
	return nil, fmt.Errorf("asking resolvers for %s %s: %s", name, dns.TypeToString[qtype], strings.Join(errs, "; "))
}

func (q *querier) addrPort(a netip.Addr) string { return netip.AddrPortFrom(a, q.nsPort).String() }

// authoritative asks one address directly, without recursion.
func (q *querier) authoritative(ctx context.Context, a netip.Addr, name string, qtype uint16, netw string, dnssec bool) (*dns.Msg, error) {
	return q.exchange(ctx, newQuery(name, qtype, false, dnssec), q.addrPort(a), netw)
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

func parentName(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}

// soaWalk finds the zone holding name through the resolvers (SOA at name,
// then at each parent; a negative answer's SOA jumps straight there).
func (q *querier) soaWalk(ctx context.Context, name string) (string, error) {
	name = strings.ToLower(dns.Fqdn(name))
	for cur := name; cur != "."; {
		r, err := q.recursive(ctx, q.resolvers, cur, dns.TypeSOA)
		if err != nil {
			return "", fmt.Errorf("finding the zone of %s: %w", name, err)
		}
		cname := false
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.SOA:
				if strings.EqualFold(rr.Hdr.Name, cur) {
					return strings.ToLower(cur), nil
				}
			case *dns.CNAME:
				cname = true
			}
		}
		next := parentName(cur)
		if !cname {
			for _, rr := range r.Ns {
				if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, cur) && !strings.EqualFold(soa.Hdr.Name, cur) {
					next = strings.ToLower(soa.Hdr.Name)
				}
			}
		}
		cur = next
	}
	return "", fmt.Errorf("finding the zone of %s: no SOA found up to the root", name)
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
	var out []netip.Addr
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r, err := q.recursive(ctx, q.resolvers, host, qt)
		if err != nil {
			return nil, err
		}
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
					out = append(out, a)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
					out = append(out, a)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("name server %s has no address", host)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
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
