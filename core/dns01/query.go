package dns01

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/dnsq"
)

// querier sends every DNS message the solver sends, through one
// dnsq.Client that counts them, to the configured resolvers and to
// authoritative addresses only.
type querier struct {
	dnsq.Client
	resolvers []string
	nsPort    uint16
	shared    *Shared // nil: every question is this solver's own
}

// recursive asks the configured resolvers (dnsq.Client.Recursive).
func (q *querier) recursive(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	return q.Recursive(ctx, q.resolvers, name, qtype)
}

// authoritative asks one name server address directly, without recursion,
// as a CA's resolver does.
func (q *querier) authoritative(ctx context.Context, addr netip.Addr, name string, qtype uint16) (*dns.Msg, error) {
	ap := q.nsAddr(addr)
	ask := func(ctx context.Context) (*dns.Msg, error) {
		return q.Exchange(ctx, dnsq.Query(name, qtype, false, false), ap.String(), "udp")
	}
	if q.shared == nil {
		return ask(ctx)
	}
	return q.shared.ask(ctx, shareKey{addr: ap, name: strings.ToLower(name), qtype: qtype}, ask)
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
