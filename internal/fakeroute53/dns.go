package fakeroute53

import (
	"fmt"
	"net"
	"strings"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// startDNS serves the published view of every zone, authoritatively, on
// 127.0.0.1 over UDP and TCP at the same port.
func (s *Server) startDNS() error {
	pc, l, err := dnstest.ListenPair()
	if err != nil {
		return err
	}
	h := dns.HandlerFunc(s.serveDNS)
	s.dnsUDP = &dns.Server{PacketConn: pc, Handler: h}
	s.dnsTCP = &dns.Server{Listener: l, Handler: h}
	s.dnsAddr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	s.dnsUDP.NotifyStartedFunc = func() { started <- struct{}{} }
	s.dnsTCP.NotifyStartedFunc = func() { started <- struct{}{} }
	go func() { _ = s.dnsUDP.ActivateAndServe() }()
	go func() { _ = s.dnsTCP.ActivateAndServe() }()
	<-started
	<-started
	return nil
}

func (s *Server) serveDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	if len(q.Question) != 1 || q.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeNotImplemented
		_ = w.WriteMsg(m)
		return
	}
	qname := strings.ToLower(q.Question[0].Name)
	qtype := q.Question[0].Qtype

	s.mu.Lock()
	s.publishLocked()
	z := s.zoneForLocked(qname)
	if z == nil {
		s.mu.Unlock()
		m.Rcode = dns.RcodeRefused
		_ = w.WriteMsg(m)
		return
	}
	m.Authoritative = true
	nameExists := false
	typ := dns.TypeToString[qtype]
	for k, set := range z.dns {
		if k.name == qname || strings.HasSuffix(k.name, "."+qname) {
			nameExists = true
		}
		if k.name == qname && (k.typ == typ || k.typ == "CNAME" || qtype == dns.TypeANY) {
			m.Answer = append(m.Answer, toRRs(k, set)...)
		}
	}
	if len(m.Answer) == 0 {
		if !nameExists {
			m.Rcode = dns.RcodeNameError
		}
		if soa := z.dns[rrKey{z.name, "SOA"}]; soa != nil {
			m.Ns = toRRs(rrKey{z.name, "SOA"}, soa)
		}
	}
	s.mu.Unlock()
	if q.IsEdns0() != nil {
		m.SetEdns0(4096, false)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		m.Truncate(512)
		if opt := q.IsEdns0(); opt != nil {
			m.Truncate(int(opt.UDPSize()))
		}
	}
	_ = w.WriteMsg(m)
}

// zoneForLocked finds the closest enclosing zone, preferring a public zone
// over a private one of the same name.
func (s *Server) zoneForLocked(qname string) *zone {
	var best *zone
	for _, z := range s.zones {
		if !inZone(qname, z.name) {
			continue
		}
		switch {
		case best == nil, len(z.name) > len(best.name):
			best = z
		case len(z.name) == len(best.name) && best.private && !z.private:
			best = z
		}
	}
	return best
}

func toRRs(k rrKey, set *rrset) []dns.RR {
	hdr := dns.RR_Header{Name: k.name, Rrtype: dns.StringToType[k.typ], Class: dns.ClassINET, Ttl: uint32(set.ttl)}
	var out []dns.RR
	for _, v := range set.values {
		if k.typ == "TXT" {
			txt, err := parseTXT(v)
			if err != nil {
				continue
			}
			for i := range txt {
				txt[i] = escapeTXT(txt[i])
			}
			out = append(out, &dns.TXT{Hdr: hdr, Txt: txt})
			continue
		}
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", k.name, set.ttl, k.typ, v))
		if err == nil && rr != nil {
			out = append(out, rr)
		}
	}
	return out
}

// escapeTXT writes a character string the way miekg/dns expects TXT data:
// its packer interprets backslash escapes.
func escapeTXT(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 32 || c > 126:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
