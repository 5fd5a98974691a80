package acme

import (
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// testDNS is an in-process authoritative DNS server on 127.0.0.1 (UDP and
// TCP on one port) that answers TXT queries with the values a test sets.
// Pebble's VA is pointed at it with -dnsserver.
type testDNS struct {
	Addr string
	mu   sync.Mutex
	txt  map[string][]string // lower-case FQDN with trailing dot
}

func startTestDNS(t testing.TB) *testDNS {
	t.Helper()
	d := &testDNS{txt: map[string][]string{}}
	pc, ln, err := dnstest.ListenPair()
	if err != nil {
		t.Fatal(err)
	}
	d.Addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: d}, {Listener: ln, Handler: d}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return d
}

func (d *testDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeTXT {
		q := r.Question[0]
		d.mu.Lock()
		vals := append([]string(nil), d.txt[strings.ToLower(q.Name)]...)
		d.mu.Unlock()
		for _, v := range vals {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 0},
				Txt: []string{v},
			})
		}
	}
	_ = w.WriteMsg(m)
}

// add publishes value at name; the returned func removes exactly it.
func (d *testDNS) add(name, value string) func() {
	name = dns.Fqdn(strings.ToLower(name))
	d.mu.Lock()
	d.txt[name] = append(d.txt[name], value)
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		vals := d.txt[name]
		for i, v := range vals {
			if v == value {
				d.txt[name] = append(vals[:i:i], vals[i+1:]...)
				break
			}
		}
	}
}
