package main

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// chasingResolver stands in for the recursive resolver a real CA uses: it
// forwards each query to an authoritative upstream and, when the answer is a
// CNAME whose target the upstream did not include, asks again for the
// target (an authoritative-only BIND does not chase CNAMEs into other
// zones). It serves UDP and TCP on 127.0.0.1 and returns the address.
func chasingResolver(t testing.TB, upstream string) string {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		resp.RecursionAvailable = true
		if len(req.Question) == 1 {
			q := req.Question[0]
			name := q.Name
			for range 8 {
				m := new(dns.Msg)
				m.SetQuestion(name, q.Qtype)
				r, err := dns.Exchange(m, upstream)
				if err != nil {
					resp.Rcode = dns.RcodeServerFailure
					break
				}
				resp.Rcode = r.Rcode
				resp.Answer = append(resp.Answer, r.Answer...)
				next := ""
				final := false
				for _, rr := range r.Answer {
					if rr.Header().Rrtype == q.Qtype {
						final = true
					}
					if c, ok := rr.(*dns.CNAME); ok {
						next = c.Target
					}
				}
				if final || next == "" || q.Qtype == dns.TypeCNAME {
					break
				}
				name = next
			}
		}
		_ = w.WriteMsg(resp)
	})
	pc, ln, err := dnstest.ListenPair()
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: ln, Handler: handler}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return addr
}
