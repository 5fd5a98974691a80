package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin/sdk"
)

// TestAcmeDNSPattern sets up README.md's worked example with a real BIND9
// as the user's DNS host: example.test delegates acme.example.test to the
// plugin's server and CNAMEs each _acme-challenge name into it. A resolver
// that starts at the parent, as a CA's does, must reach the plugin's
// values.
func TestAcmeDNSPattern(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs BIND9 and root")
	}
	t.Parallel()
	nsAddr := testenv.LoopbackAddr(t)
	p := start(t, func(s *Settings) { s.Listen = netip.AddrPortFrom(nsAddr, 53).String() })
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{
		Name: "example.test",
		Records: []string{
			// Delegation, once (README "Delegation, once").
			"acme IN NS ns.acme",
			"ns.acme IN A " + nsAddr.String(),
			// One CNAME per name, once; *.example.test shares the apex's.
			"_acme-challenge IN CNAME example-test.acme.example.test.",
			"_acme-challenge.www IN CNAME www-example-test.acme.example.test.",
		},
	}}})

	// What the host hands the plugin after following the CNAME and finding
	// the zone by SOA.
	present(t, p,
		sdk.Record{ID: "apex", FQDN: "example-test." + zone, Zone: zone, Value: "apex-value"},
		sdk.Record{ID: "wild", FQDN: "example-test." + zone, Zone: zone, Value: "wildcard-value"},
		sdk.Record{ID: "www", FQDN: "www-example-test." + zone, Zone: zone, Value: "www-value"})

	tests := []struct {
		name string
		want []string
	}{
		{"_acme-challenge.example.test.", []string{"apex-value", "wildcard-value"}},
		{"_acme-challenge.www.example.test.", []string{"www-value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, path := resolveTXT(t, netip.AddrPortFrom(b.Primary, 53), tt.name)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("TXT %s = %q via %s; want %q", tt.name, got, path, tt.want)
			}
			if !strings.Contains(path, nsAddr.String()) {
				t.Fatalf("resolution path %s never reached the plugin at %s", path, nsAddr)
			}
		})
	}
}

// resolveTXT resolves name iteratively from start: it follows CNAMEs and
// referrals (using glue) as a resolver does, asking each server without
// recursion and requiring authoritative final answers. It returns the sorted
// values and the servers asked.
func resolveTXT(t *testing.T, start netip.AddrPort, name string) ([]string, string) {
	t.Helper()
	server, path := start, []string{}
	for range 8 {
		path = append(path, server.Addr().String()+"?"+name)
		r := ask(t, "udp", server, name, dns.TypeTXT)
		if r.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s at %s: %s", name, server, dns.RcodeToString[r.Rcode])
		}
		var vals []string
		var cname string
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.TXT:
				vals = append(vals, strings.Join(rr.Txt, ""))
			case *dns.CNAME:
				cname = rr.Target
			}
		}
		switch {
		case len(vals) > 0:
			if !r.Authoritative {
				t.Fatalf("TXT %s from %s is not authoritative", name, server)
			}
			slices.Sort(vals)
			return vals, strings.Join(path, " → ")
		case cname != "":
			// Restart at the top, as a resolver does for an out-of-zone target.
			name, server = cname, start
		default:
			glue := referral(r)
			if !glue.IsValid() {
				t.Fatalf("%s at %s: no answer, CNAME or referral with glue: %v", name, server, r)
			}
			server = netip.AddrPortFrom(glue, 53)
		}
	}
	t.Fatalf("resolving %s: too many steps: %s", name, strings.Join(path, " → "))
	return nil, ""
}

// referral returns the glue address of the first NS in a referral.
func referral(r *dns.Msg) netip.Addr {
	for _, rr := range r.Ns {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		for _, x := range r.Extra {
			if a, ok := x.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, ns.Ns) {
				addr, _ := netip.AddrFromSlice(a.A.To4())
				return addr
			}
		}
	}
	return netip.Addr{}
}
