// Package dnstest runs a tiny authoritative DNS server for tests: it answers
// TXT queries for one zone from a callback, so a fake provider API (an
// httptest server holding records in memory) can be checked by the
// conformance kit exactly as a real provider is: by asking its nameserver.
//
// It listens on 127.0.0.1 with UDP and TCP on the same port, sets the AA bit,
// truncates UDP answers to the client's advertised size (RFC 6891 §6.2.5) so
// TCP fallback is exercised, answers NXDOMAIN for empty names (RFC 8020 is not
// modelled: empty non-terminals also get NXDOMAIN) and REFUSED outside the zone.
// Like a real server it serves one TTL per name; [Records] keeps a fake's
// values with BIND's rule for that TTL.
package dnstest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TXTFunc returns the TXT values currently published at fqdn (absolute,
// lower case). Duplicates are served as given, so a fake that stores a
// value twice is visible as such.
type TXTFunc func(fqdn string) []string

// Value is one TXT value with its TTL.
type Value struct {
	Text string
	TTL  uint32
}

// ValuesFunc is TXTFunc with a TTL per value, for fakes of APIs that
// store TTLs. [Records.Values] is one.
type ValuesFunc func(fqdn string) []Value

// DefaultTTL is the TTL Start serves every value with.
const DefaultTTL = 60

// Server is a running authoritative server; it stops when the test ends.
type Server struct {
	addr string
	zone string
}

// Addr is the host:port both transports listen on.
func (s *Server) Addr() string { return s.addr }

// Zone is the absolute zone apex the server is authoritative for.
func (s *Server) Zone() string { return s.zone }

// Start serves zone from txt until t's cleanup, each value with
// DefaultTTL. It fails t if it cannot listen.
func Start(t testing.TB, zone string, txt TXTFunc) *Server {
	t.Helper()
	return StartValues(t, zone, func(fqdn string) []Value {
		texts := txt(fqdn)
		out := make([]Value, len(texts))
		for i, v := range texts {
			out[i] = Value{Text: v, TTL: DefaultTTL}
		}
		return out
	})
}

// StartValues is Start with TTLs. A name's values are served as one RRset
// with one TTL (RFC 2181 §5.2): the first value's, as BIND serves a zone
// file that gives one set several TTLs ("TTL set to prior TTL"). To serve
// what BIND serves after UPDATEs (the TTL of the value added last, kept
// after that value is deleted), keep the values in a [Records].
func StartValues(t testing.TB, zone string, txt ValuesFunc) *Server {
	t.Helper()
	zone = dns.CanonicalName(zone)
	pc, ln, err := ListenPair()
	if err != nil {
		t.Fatalf("dnstest: listening: %v", err)
	}
	h := &handler{zone: zone, txt: txt}
	var started sync.WaitGroup
	started.Add(2)
	servers := []*dns.Server{
		{PacketConn: pc, Handler: h, NotifyStartedFunc: started.Done},
		{Listener: ln, Handler: h, NotifyStartedFunc: started.Done},
	}
	for _, srv := range servers {
		go func() { _ = srv.ActivateAndServe() }()
	}
	started.Wait()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range servers {
			_ = srv.ShutdownContext(ctx)
		}
	})
	return &Server{addr: pc.LocalAddr().String(), zone: zone}
}

// ListenPair binds UDP on an ephemeral 127.0.0.1 port and TCP on the same
// port, as a DNS server needs, retrying when the TCP side of that port is
// taken (often by an outgoing connection's ephemeral port).
func ListenPair() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		lastErr = err
		_ = pc.Close()
	}
	return nil, nil, fmt.Errorf("no port free for both UDP and TCP: %w", lastErr)
}

type handler struct {
	zone string
	txt  ValuesFunc
}

func (h *handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = false
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	if !dns.IsSubDomain(h.zone, name) {
		m.Rcode = dns.RcodeRefused
		_ = w.WriteMsg(m)
		return
	}
	m.Authoritative = true
	var values []Value
	if name != h.zone {
		values = h.txt(name)
	}
	switch {
	case q.Qtype == dns.TypeSOA && name == h.zone:
		m.Answer = append(m.Answer, h.soa())
	case q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY:
		for _, v := range values {
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: values[0].TTL},
				Txt: split255(v.Text),
			})
		}
	}
	if len(m.Answer) == 0 {
		if len(values) == 0 && name != h.zone {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, h.soa())
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = int(opt.UDPSize())
		m.SetEdns0(opt.UDPSize(), false)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}

func (h *handler) soa() dns.RR {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: h.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns:      "ns." + h.zone,
		Mbox:    "hostmaster." + h.zone,
		Serial:  1,
		Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 60,
	}
}

// split255 cuts a TXT value into character-strings of at most 255 octets
// (RFC 1035 §3.3.14).
func split255(v string) []string {
	if v == "" {
		return []string{""}
	}
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}
