package fakecloudflare

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// startDNS serves the fake's zones authoritatively on one UDP and one TCP
// socket at the same 127.0.0.1 port, the way Cloudflare's nameservers
// answer what its API stores.
func (s *Server) startDNS(tb testing.TB) {
	tb.Helper()
	pc, ln, err := dnstest.ListenPair()
	if err != nil {
		tb.Fatalf("fakecloudflare: %v", err)
	}
	s.DNSAddr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serveDNS)
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	udp := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: notify}
	tcp := &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: notify}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	<-started
	<-started
	tb.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
}

func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := normName(q.Name)

	s.mu.Lock()
	defer s.mu.Unlock()
	var z *zone
	for i := range s.zones {
		if s.zones[i].Status != "active" { // only active zones are served
			continue
		}
		if zn := s.zones[i].Name; name == zn || strings.HasSuffix(name, "."+zn) {
			if z == nil || len(zn) > len(z.Name) {
				z = &s.zones[i]
			}
		}
	}
	if z == nil {
		m.Rcode = dns.RcodeRefused
		_ = w.WriteMsg(m)
		return
	}
	m.Authoritative = true
	soa := &dns.SOA{
		Hdr: dns.RR_Header{Name: dns.Fqdn(z.Name), Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
		Ns:  "ns1.fake-cloudflare.test.", Mbox: "dns.fake-cloudflare.test.",
		Serial: 1, Refresh: 10000, Retry: 2400, Expire: 604800, Minttl: 60,
	}
	exists := name == z.Name
	for _, rec := range s.records {
		if rec.ZoneID != z.ID || rec.Name != name {
			continue
		}
		exists = true
		if rec.Type == "TXT" && (q.Qtype == dns.TypeTXT || q.Qtype == dns.TypeANY) {
			ttl := uint32(rec.TTL)
			if ttl == 1 { // "automatic"
				ttl = 300
			}
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
				Txt: txtStrings(rec.Content),
			})
		}
	}
	if name == z.Name && q.Qtype == dns.TypeSOA {
		m.Answer = append(m.Answer, soa)
	}
	if len(m.Answer) == 0 {
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, soa)
	}
	_ = w.WriteMsg(m)
}

// txtStrings turns a record's content into its character-strings: quoted
// content ("a" "b") is parsed as RFC 1035 character-strings with backslash
// escapes; unquoted content is one string, split every 255 bytes.
func txtStrings(content string) []string {
	if !strings.HasPrefix(content, `"`) {
		var out []string
		for len(content) > 255 {
			out = append(out, content[:255])
			content = content[255:]
		}
		return append(out, content)
	}
	var out []string
	var cur strings.Builder
	in, esc := false, false
	for i := 0; i < len(content); i++ {
		c := content[i]
		switch {
		case esc:
			cur.WriteByte(c)
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			if in {
				out = append(out, cur.String())
				cur.Reset()
			}
			in = !in
		case in:
			cur.WriteByte(c)
		}
	}
	if in { // unterminated: keep what was read
		out = append(out, cur.String())
	}
	return out
}

// equalTXT reports whether two contents publish the same TXT data.
func equalTXT(a, b string) bool {
	return strings.Join(txtStrings(a), "") == strings.Join(txtStrings(b), "")
}
