package dns01

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// splitZone serves split.test from two addresses of its one name server
// (127.0.0.1 and 127.0.0.2, one port): the first has the dns-persist-01
// record, the second (a secondary that missed it) does not.
func splitZone(t *testing.T) (first, second *fakeServer) {
	t.Helper()
	const apex = "split.test."
	handler := func(withRecord bool) func(w dns.ResponseWriter, r *dns.Msg, tcp bool) {
		return func(w dns.ResponseWriter, r *dns.Msg, _ bool) {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Authoritative = true
			q := r.Question[0]
			name := strings.ToLower(q.Name)
			soa := rr(t, "split.test. 60 IN SOA ns.split.test. h.split.test. 1 3600 600 86400 1")
			switch {
			case name == apex && q.Qtype == dns.TypeSOA:
				m.Answer = append(m.Answer, soa)
			case name == apex && q.Qtype == dns.TypeNS:
				m.Answer = append(m.Answer, rr(t, "split.test. 60 IN NS ns.split.test."))
			case name == "ns.split.test." && q.Qtype == dns.TypeA:
				m.Answer = append(m.Answer, rr(t, "ns.split.test. 60 IN A 127.0.0.1"), rr(t, "ns.split.test. 60 IN A 127.0.0.2"))
			case name == "_validation-persist.x.split.test." && q.Qtype == dns.TypeTXT && withRecord:
				m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 30},
					Txt: []string{"ca.test; accounturi=" + testAccount}})
			case dns.IsSubDomain(apex, name):
				if name != apex && name != "ns.split.test." {
					m.Rcode = dns.RcodeNameError
				}
				m.Ns = append(m.Ns, soa)
			default:
				m.Rcode = dns.RcodeRefused
				m.Authoritative = false
			}
			_ = w.WriteMsg(m)
		}
	}
	first = startFake(t, "127.0.0.1:0", handler(true))
	second = startFake(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), first.addr.Port()).String(), handler(false))
	return first, second
}

// A dns-persist-01 record that only one of the authoritative addresses
// serves does not authorize: the CA may ask the other.
func TestPersistNeedsEveryAddress(t *testing.T) {
	t.Parallel()
	first, _ := splitZone(t)
	c, err := NewPersistChecker(Config{Resolvers: []string{first.addr.String()}, NameserverPort: int(first.addr.Port()),
		QueryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Check(t.Context(), []string{"x.split.test"}, PersistWant{Issuers: []string{testIssuer}, AccountURI: testAccount})
	if len(st) != 1 || len(st[0].Servers) != 2 {
		t.Fatalf("statuses %+v (%v), want one name asked at two addresses", st, err)
	}
	var pe *PersistError
	if !errors.As(err, &pe) || st[0].OK() {
		t.Fatalf("served by one address of two: OK=%v, err %v; want a *PersistError", st[0].OK(), err)
	}
	if !strings.Contains(err.Error(), "127.0.0.2") || strings.Contains(err.Error(), "127.0.0.1:") {
		t.Errorf("the error should name only the address without the record: %v", err)
	}
}
