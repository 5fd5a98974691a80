package dns01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/dnsq"
)

// maxDescend bounds how many zone cuts below the SOA-walk result one name
// may sit (a delegated _acme-challenge is one).
const maxDescend = 4

// ErrCNAMELoop is wrapped when CNAMEs from a challenge name loop.
var ErrCNAMELoop = errors.New("dns01: CNAME loop")

// nameserver is one NS host of a zone with every address it resolves to.
type nameserver struct {
	Name  string
	Addrs []netip.Addr
}

// zoneInfo is a zone and its authoritative servers.
type zoneInfo struct {
	Name        string
	Nameservers []nameserver
	// override: the zone came from Config.ZoneOverrides, not DNS.
	override bool
}

func (z *zoneInfo) addrs() []netip.Addr {
	var out []netip.Addr
	for _, ns := range z.Nameservers {
		out = append(out, ns.Addrs...)
	}
	return out
}

// lookupCache memoizes zone and name server look-ups for one Prepare call;
// it is not kept across calls, so a long-running process sees DNS changes.
type lookupCache struct {
	mu    sync.Mutex
	zones map[string]*zoneInfo
	hosts map[string][]netip.Addr
}

func newLookupCache() *lookupCache {
	return &lookupCache{zones: map[string]*zoneInfo{}, hosts: map[string][]netip.Addr{}}
}

// soaWalk finds the zone containing name through the resolvers
// (dnsq.Client.SOAWalk).
func (s *Solver) soaWalk(ctx context.Context, name string) (string, error) {
	return s.q.SOAWalk(ctx, s.q.resolvers, name)
}

// zone returns name's zone information, resolving its name servers.
func (s *Solver) zone(ctx context.Context, c *lookupCache, name string, override bool) (*zoneInfo, error) {
	name = strings.ToLower(dns.Fqdn(name))
	c.mu.Lock()
	z, ok := c.zones[name]
	c.mu.Unlock()
	if ok {
		return z, nil
	}
	r, err := s.q.recursive(ctx, name, dns.TypeNS)
	if err != nil {
		return nil, fmt.Errorf("finding the name servers of zone %s: %w", name, err)
	}
	z = &zoneInfo{Name: name, override: override}
	var hostErrs []error
	for _, rr := range r.Answer {
		ns, ok := rr.(*dns.NS)
		if !ok || !strings.EqualFold(ns.Hdr.Name, name) {
			continue
		}
		host := strings.ToLower(ns.Ns)
		addrs, err := s.hostAddrs(ctx, c, host)
		if err != nil {
			// A CA cannot ask a server without an address either, so
			// it does not hold the wait up; other servers may work.
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.log.LogAttrs(ctx, slog.LevelWarn, "skipping a name server without address", slog.String("zone", name), errAttr(err))
			hostErrs = append(hostErrs, err)
			continue
		}
		z.Nameservers = append(z.Nameservers, nameserver{Name: host, Addrs: addrs})
	}
	if len(z.Nameservers) == 0 {
		if len(hostErrs) > 0 {
			return nil, fmt.Errorf("zone %s: %w", name, errors.Join(hostErrs...))
		}
		return nil, fmt.Errorf("zone %s has no NS records at the resolvers (%s)", name, dns.RcodeToString[r.Rcode])
	}
	slices.SortFunc(z.Nameservers, func(a, b nameserver) int { return strings.Compare(a.Name, b.Name) })
	c.mu.Lock()
	c.zones[name] = z
	c.mu.Unlock()
	return z, nil
}

// hostAddrs resolves a name server host to all its IPv4 and IPv6 addresses
// through the configured resolvers.
func (s *Solver) hostAddrs(ctx context.Context, c *lookupCache, host string) ([]netip.Addr, error) {
	c.mu.Lock()
	cached, ok := c.hosts[host]
	c.mu.Unlock()
	if ok {
		return cached, nil
	}
	out, err := s.q.HostAddrs(ctx, s.q.resolvers, host)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.hosts[host] = out
	c.mu.Unlock()
	return out, nil
}

// askZone asks the zone's servers directly for name, trying each address
// until one answers authoritatively or refers to a child zone.
func (s *Solver) askZone(ctx context.Context, z *zoneInfo, name string, qtype uint16) (*dns.Msg, error) {
	var errs []string
	for _, ns := range z.Nameservers {
		for _, a := range ns.Addrs {
			r, err := s.q.authoritative(ctx, a, name, qtype)
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				errs = append(errs, fmt.Sprintf("%s (%s): %v", ns.Name, s.q.nsAddr(a), err))
			case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
				errs = append(errs, fmt.Sprintf("%s (%s): %s", ns.Name, s.q.nsAddr(a), dns.RcodeToString[r.Rcode]))
			case !r.Authoritative && referral(r, z.Name) == "":
				errs = append(errs, fmt.Sprintf("%s (%s): not authoritative for %s", ns.Name, s.q.nsAddr(a), z.Name))
			default:
				return r, nil
			}
		}
	}
	return nil, fmt.Errorf("asking the name servers of %s about %s: %s", z.Name, name, strings.Join(errs, "; "))
}

// referral returns the child zone a non-authoritative answer delegates to
// (NS records in the authority section below zone), or "".
func referral(r *dns.Msg, zone string) string {
	for _, rr := range r.Ns {
		if ns, ok := rr.(*dns.NS); ok && dns.IsSubDomain(zone, ns.Hdr.Name) && !strings.EqualFold(ns.Hdr.Name, zone) {
			return strings.ToLower(ns.Hdr.Name)
		}
	}
	return ""
}

// deeperZone reports a zone below zone that holds name, seen in an
// answer: a referral, or the SOA of a sub-zone the same servers also serve
// (they answer for the deepest zone they have).
func deeperZone(r *dns.Msg, zone, name string) string {
	if !r.Authoritative {
		if child := referral(r, zone); child != "" && dns.IsSubDomain(child, name) {
			return child
		}
		return ""
	}
	for _, rr := range append(slices.Clone(r.Answer), r.Ns...) {
		if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(zone, soa.Hdr.Name) && !strings.EqualFold(soa.Hdr.Name, zone) &&
			dns.IsSubDomain(soa.Hdr.Name, name) {
			return strings.ToLower(soa.Hdr.Name)
		}
	}
	return ""
}

// overrideZone returns the configured zone for the longest key that name
// is at or below.
func (s *Solver) overrideZone(name string) string {
	best, zone := -1, ""
	for k, z := range s.cfg.ZoneOverrides {
		if dns.IsSubDomain(k, name) && len(k) > best {
			best, zone = len(k), z
		}
	}
	return zone
}

// target is where one challenge name is finally published.
type target struct {
	FQDN   string
	Zone   *zoneInfo
	CNAMEs []string // owners of the CNAMEs followed, in order
}

// resolveTarget follows CNAMEs from name and finds the zone of the final
// name. It asks the authoritative servers of each zone, never the
// resolvers, about the challenge name itself: a negative answer cached at a
// resolver the CA shares would outlive the record's publication.
func (s *Solver) resolveTarget(ctx context.Context, c *lookupCache, name string) (target, error) {
	var chain []string
	cur := strings.ToLower(name)
	for {
		if slices.Contains(chain, cur) {
			return target{}, fmt.Errorf("%w: %s", ErrCNAMELoop, strings.Join(append(chain, cur), " → "))
		}
		if len(chain) > dnsq.MaxCNAMEs {
			return target{}, fmt.Errorf("following CNAMEs from %s: more than %d: %s", name, dnsq.MaxCNAMEs, strings.Join(chain, " → "))
		}
		var z *zoneInfo
		var err error
		if o := s.overrideZone(cur); o != "" {
			if !dns.IsSubDomain(o, cur) {
				return target{}, fmt.Errorf("zone override %s does not contain %s", o, cur)
			}
			z, err = s.zone(ctx, c, o, true)
		} else {
			var apex string
			if apex, err = s.soaWalk(ctx, dnsq.ParentName(cur)); err == nil {
				z, err = s.zone(ctx, c, apex, false)
			}
		}
		if err != nil {
			return target{}, err
		}
		r, err := s.askZone(ctx, z, cur, dns.TypeCNAME)
		for range maxDescend {
			if err != nil || z.override {
				break
			}
			child := deeperZone(r, z.Name, cur)
			if child == "" {
				break
			}
			if z, err = s.zone(ctx, c, child, false); err == nil {
				r, err = s.askZone(ctx, z, cur, dns.TypeCNAME)
			}
		}
		if err != nil {
			return target{}, err
		}
		next := ""
		for _, rr := range r.Answer {
			if cn, ok := rr.(*dns.CNAME); ok && strings.EqualFold(cn.Hdr.Name, cur) {
				next = strings.ToLower(cn.Target)
			}
		}
		if next == "" {
			return target{FQDN: cur, Zone: z, CNAMEs: chain}, nil
		}
		chain = append(chain, cur)
		cur = next
	}
}
