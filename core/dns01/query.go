package dns01

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size advertised (the DNS flag day 2020 value):
// large enough for 100 TXT values, small enough to avoid fragmentation.
const ednsSize = 1232

// querier sends every DNS message the solver sends. It talks only to the
// configured resolvers (recursion desired) and to authoritative addresses
// (no recursion), never to the Go resolver, and counts what it sends.
type querier struct {
	resolvers []string
	nsPort    uint16
	timeout   time.Duration
	sent      atomic.Uint64
}

// exchange sends m over UDP and retries over TCP when the answer is
// truncated (RFC 7766 §5: "a resolver SHOULD use TCP when a response
// ... is truncated").
func (q *querier) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: q.timeout, UDPSize: ednsSize}
	q.sent.Add(1)
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		q.sent.Add(1)
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

func newQuery(name string, qtype uint16, recurse bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = recurse
	m.SetEdns0(ednsSize, false)
	return m
}

// recursive asks the configured resolvers in turn until one gives a usable
// answer (NOERROR or NXDOMAIN).
func (q *querier) recursive(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	var errs []string
	for _, server := range q.resolvers {
		r, err := q.exchange(ctx, newQuery(name, qtype, true), server)
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

// authoritative asks one name server address directly, without recursion,
// as a CA's resolver does.
func (q *querier) authoritative(ctx context.Context, addr netip.Addr, name string, qtype uint16) (*dns.Msg, error) {
	return q.exchange(ctx, newQuery(name, qtype, false), q.nsAddr(addr).String())
}

func (q *querier) nsAddr(addr netip.Addr) netip.AddrPort {
	return netip.AddrPortFrom(addr, q.nsPort)
}

// txtValues returns the TXT values owned by name in r's answer, each with
// its character-strings joined (RFC 7208 §3.3 style: a long value is split
// into 255-octet strings).
func txtValues(r *dns.Msg, name string) []string {
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.EqualFold(txt.Hdr.Name, name) {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out
}

// SystemResolvers reads the nameserver lines of a resolv.conf file (the CLI
// passes /etc/resolv.conf) and returns them as host:port strings for
// Config.Resolvers.
func SystemResolvers(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading resolvers: %w", err)
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("reading resolvers: no nameserver line in %s", path)
	}
	return out, nil
}

// ParseResolver accepts "ip" or "ip:port" (IPv6 as "[ip]:port"), port 53
// by default, and returns "ip:port". Host names are rejected: resolving
// them would need the Go resolver.
func ParseResolver(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 53).String(), nil
	}
	return "", fmt.Errorf("resolver %q: want an IP address with optional port", s)
}
