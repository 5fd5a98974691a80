// Package dnsq asks DNS questions the way zonecert does everywhere: only
// the configured resolvers (recursion desired) or authoritative addresses
// (no recursion), never the Go resolver, with EDNS and a TCP retry for
// truncated answers. The solver (core/dns01) and the preflight checks
// (core/preflight) share it, so both follow one rule for finding a zone.
package dnsq

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// EDNSSize is the UDP payload size advertised (the DNS flag day 2020
// value): large enough for 100 TXT values, small enough to avoid
// fragmentation.
const EDNSSize = 1232

// MaxCNAMEs bounds a CNAME chain followed hop by hop; real set-ups use
// one or two.
const MaxCNAMEs = 8

// Query builds a question for name (made fully qualified).
func Query(name string, qtype uint16, recurse, dnssec bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = recurse
	m.SetEdns0(EDNSSize, dnssec)
	return m
}

// Client sends questions and counts the messages it sends. The zero value
// uses miekg/dns's default timeout.
type Client struct {
	Timeout time.Duration
	sent    atomic.Uint64
}

// Sent is the number of messages sent so far (a TCP retry counts).
func (c *Client) Sent() uint64 { return c.sent.Load() }

// Exchange sends m over netw ("udp" or "tcp"). A truncated UDP answer is
// asked again over TCP (RFC 7766 §5: "a resolver SHOULD use TCP when a
// response ... is truncated").
func (c *Client) Exchange(ctx context.Context, m *dns.Msg, server, netw string) (*dns.Msg, error) {
	dc := &dns.Client{Net: netw, Timeout: c.Timeout, UDPSize: EDNSSize}
	c.sent.Add(1)
	r, _, err := dc.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated && netw == "udp" {
		dc.Net = "tcp"
		c.sent.Add(1)
		r, _, err = dc.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, err
	}
	if r.Id != m.Id {
		return nil, errors.New("answer id mismatch")
	}
	return r, nil
}

// Recursive asks resolvers in turn until one gives a usable answer
// (NOERROR or NXDOMAIN).
func (c *Client) Recursive(ctx context.Context, resolvers []string, name string, qtype uint16) (*dns.Msg, error) {
	var errs []string
	for _, server := range resolvers {
		r, err := c.Exchange(ctx, Query(name, qtype, true, false), server, "udp")
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, fmt.Sprintf("%s: %v", server, err))
		case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
			errs = append(errs, fmt.Sprintf("%s: %s", server, dns.RcodeToString[r.Rcode]))
		default:
			return r, nil
		}
	}
	return nil, fmt.Errorf("asking resolvers for %s %s: %s", name, dns.TypeToString[qtype], strings.Join(errs, "; "))
}

// SOAWalk finds the zone holding name through resolvers: ask SOA at name,
// then at each parent, until the answer holds the SOA of the name asked.
// A negative answer without CNAMEs carries its zone's SOA in the authority
// section (RFC 2308 §3), which jumps straight there. The zone is returned
// in lower case.
func (c *Client) SOAWalk(ctx context.Context, resolvers []string, name string) (string, error) {
	name = strings.ToLower(dns.Fqdn(name))
	for cur := name; cur != "."; {
		r, err := c.Recursive(ctx, resolvers, cur, dns.TypeSOA)
		if err != nil {
			return "", fmt.Errorf("finding the zone of %s: %w", name, err)
		}
		cname := false
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.SOA:
				if strings.EqualFold(rr.Hdr.Name, cur) {
					return cur, nil
				}
			case *dns.CNAME:
				cname = true
			}
		}
		next := ParentName(cur)
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

// HostAddrs resolves a name server host to all its IPv4 and IPv6
// addresses through resolvers, sorted and without duplicates.
func (c *Client) HostAddrs(ctx context.Context, resolvers []string, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r, err := c.Recursive(ctx, resolvers, host, qt)
		if err != nil {
			return nil, fmt.Errorf("resolving name server %s: %w", host, err)
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

// ParentName returns name without its first label ("." for a TLD).
func ParentName(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[i:]
}
