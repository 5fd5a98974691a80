package dnsq

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// serve runs h on a loopback UDP and TCP port pair and returns the address.
func serve(t *testing.T, h dns.HandlerFunc) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	return pc.LocalAddr().String()
}

func soa(zone string) dns.RR {
	rr, _ := dns.NewRR(zone + " 60 IN SOA ns." + zone + " host." + zone + " 1 60 60 60 60")
	return rr
}

// A truncated UDP answer is asked again over TCP, and both count.
func TestExchangeRetriesTruncatedOverTCP(t *testing.T) {
	addr := serve(t, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if w.LocalAddr().Network() == "udp" {
			m.Truncated = true
		} else {
			txt, _ := dns.NewRR(r.Question[0].Name + ` 60 IN TXT "full"`)
			m.Answer = append(m.Answer, txt)
		}
		_ = w.WriteMsg(m)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &Client{Timeout: 2 * time.Second}
	r, err := c.Exchange(ctx, Query("x.example.", dns.TypeTXT, true, false), addr, "udp")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 || r.Truncated {
		t.Fatalf("answer %v (truncated %v), want the TCP answer", r.Answer, r.Truncated)
	}
	if c.Sent() != 2 {
		t.Fatalf("Sent = %d, want 2 (UDP then TCP)", c.Sent())
	}
}

// The SOA walk follows a negative answer's SOA straight to the zone, and
// returns it in lower case.
func TestSOAWalkJumpsToNegativeAnswersZone(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	addr := serve(t, func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0].Name
		mu.Lock()
		asked = append(asked, q)
		mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(r)
		switch {
		case strings.EqualFold(q, "example.com."):
			m.Answer = append(m.Answer, soa("Example.COM."))
		case dns.IsSubDomain("example.com.", strings.ToLower(q)):
			m.Rcode = dns.RcodeNameError
			m.Ns = append(m.Ns, soa("example.com."))
		default:
			m.Rcode = dns.RcodeRefused
		}
		_ = w.WriteMsg(m)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &Client{Timeout: 2 * time.Second}
	zone, err := c.SOAWalk(ctx, []string{addr}, "A.b.C.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if zone != "example.com." {
		t.Fatalf("zone %q, want example.com.", zone)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 {
		t.Fatalf("asked %v, want the name and then the zone only", asked)
	}
}
