package preflight

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/dnsq"
)

// probe is one address's answer to SOA over one transport.
type probe struct {
	host   string
	addr   netip.Addr
	netw   string
	serial uint32
	err    error // timeout, lame, refused
	// unreach: no route from here (IPv6 on a v4-only host); the
	// propagation wait skips such addresses, so it is only a warning.
	unreach bool
}

// soaProbe asks addr for zone's SOA and names what is wrong.
func (c *Checker) soaProbe(ctx context.Context, host string, addr netip.Addr, zone, netw string) probe {
	p := probe{host: host, addr: addr, netw: netw}
	r, err := c.q.authoritative(ctx, addr, zone, dns.TypeSOA, netw, false)
	var ne net.Error
	switch {
	case err != nil && (errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EADDRNOTAVAIL)):
		p.err, p.unreach = errors.New("unreachable from here (no route): not checked"), true
	case err != nil && errors.As(err, &ne) && ne.Timeout():
		p.err = errors.New("timed out")
	case err != nil:
		p.err = err
	case r.Rcode != dns.RcodeSuccess:
		p.err = fmt.Errorf("lame: answers %s", dns.RcodeToString[r.Rcode])
	case !r.Authoritative:
		p.err = errors.New("lame: answers without the AA bit")
	default:
		for _, rr := range r.Answer {
			if soa, ok := rr.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, zone) {
				p.serial = soa.Serial
				return p
			}
		}
		p.err = errors.New("lame: no SOA in its answer")
	}
	return p
}

// checkDelegation checks that every NS of zone resolves and every address
// answers authoritatively (UDP; full adds TCP, the serials and the
// parent's NS set).
func (c *Checker) checkDelegation(ctx context.Context, zone string, full bool) []Finding {
	f := func(sev Severity, msg, fix string) Finding {
		return Finding{Check: CheckDelegation, Name: zone, Severity: sev, Message: msg, Fix: fix}
	}
	z, err := c.q.zoneServers(ctx, zone)
	if err != nil {
		return []Finding{f(Error, err.Error(), "publish NS records for "+zone+" at its servers and at the parent")}
	}
	var out []Finding
	nets := []string{"udp"}
	if full {
		nets = append(nets, "tcp")
	}
	var (
		mu     sync.Mutex
		probes []probe
		wg     sync.WaitGroup
	)
	for _, ns := range z.Nameservers {
		if ns.Err != nil {
			out = append(out, f(Error, fmt.Sprintf("name server %s does not resolve: %v", ns.Name, ns.Err),
				"give "+ns.Name+" an A or AAAA record, or remove it from the NS set"))
			continue
		}
		for _, a := range ns.Addrs {
			for _, netw := range nets {
				wg.Go(func() {
					p := c.soaProbe(ctx, ns.Name, a, zone, netw)
					mu.Lock()
					probes = append(probes, p)
					mu.Unlock()
				})
			}
		}
	}
	wg.Wait()
	slices.SortFunc(probes, func(a, b probe) int {
		if c := strings.Compare(a.host, b.host); c != 0 {
			return c
		}
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		return strings.Compare(a.netw, b.netw)
	})
	serials := map[uint32][]string{}
	for _, p := range probes {
		where := fmt.Sprintf("%s (%s over %s)", p.host, c.q.addrPort(p.addr), strings.ToUpper(p.netw))
		if p.unreach {
			out = append(out, f(Warning, where+": "+p.err.Error(), "run the doctor from a host with a route to "+p.addr.String()+", as the CA has"))
			continue
		}
		if p.err != nil {
			fix := "make " + p.host + " serve " + zone + " authoritatively, or remove it from the NS set"
			if strings.Contains(p.err.Error(), "timed out") {
				fix = "check that " + p.host + " is up and reachable on port 53 over " + strings.ToUpper(p.netw)
			}
			out = append(out, f(Error, where+": "+p.err.Error(), fix))
			continue
		}
		if p.netw == "udp" {
			serials[p.serial] = append(serials[p.serial], fmt.Sprintf("%s (%s)", p.host, c.q.addrPort(p.addr)))
		}
	}
	if full && len(serials) > 1 {
		var parts []string
		for _, s := range slices.Sorted(maps.Keys(serials)) {
			parts = append(parts, fmt.Sprintf("%d at %s", s, strings.Join(serials[s], ", ")))
		}
		out = append(out, f(Warning, "servers serve different SOA serials: "+strings.Join(parts, "; "),
			"check zone transfers to the lagging secondaries (NOTIFY, allow-transfer); the wait will be as slow as the slowest"))
	}
	if full {
		out = append(out, c.checkParentNS(ctx, z)...)
	}
	if len(out) == 0 {
		var serial []string
		for s := range serials {
			serial = append(serial, fmt.Sprint(s))
		}
		out = append(out, f(OK, fmt.Sprintf("%d name servers, %d addresses answer authoritatively (serial %s)",
			len(z.Nameservers), len(z.addrs()), strings.Join(serial, ",")), ""))
	}
	return out
}

// checkParentNS compares the parent's delegation with the zone's own NS
// set. A parent served by the same servers answers from the child, so
// there is nothing to compare.
func (c *Checker) checkParentNS(ctx context.Context, z zone) []Finding {
	pname, err := c.parentZone(ctx, z.Name)
	if err != nil {
		return nil
	}
	pz, err := c.q.zoneServers(ctx, pname)
	if err != nil {
		return nil
	}
	r, err := c.q.askZone(ctx, pz, z.Name, dns.TypeNS, false)
	if err != nil || r.Authoritative {
		return nil
	}
	var parent, child []string
	for _, rr := range r.Ns {
		if ns, ok := rr.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, z.Name) {
			parent = append(parent, strings.ToLower(ns.Ns))
		}
	}
	for _, ns := range z.Nameservers {
		child = append(child, ns.Name)
	}
	slices.Sort(parent)
	slices.Sort(child)
	if len(parent) == 0 || slices.Equal(parent, child) {
		return nil
	}
	return []Finding{{Check: CheckDelegation, Name: z.Name, Severity: Warning,
		Message: fmt.Sprintf("the parent %s delegates to %s but the zone lists %s", pname, strings.Join(parent, ", "), strings.Join(child, ", ")),
		Fix:     "make the NS set at the registrar (parent) and in the zone the same"}}
}

// parentZone is the zone above zone, by SOA walk from its parent name.
func (c *Checker) parentZone(ctx context.Context, zone string) (string, error) {
	p := dnsq.ParentName(zone)
	if p == "." {
		return "", errors.New("no parent")
	}
	return c.q.soaWalk(ctx, p)
}
