package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/providers/internal/txtrr"
)

// TTLs of the records the server makes up itself. The SOA minimum is the
// negative-caching TTL (RFC 2308 §5): kept at one second so a resolver that
// asked before Present does not hide the new record.
const (
	infraTTL   = 60
	negTTL     = 1
	edns0Limit = 1232 // the DNS flag day 2020 UDP payload size
)

// handler answers queries for the store's zone, authoritatively.
type handler struct {
	store *store
	log   *slog.Logger
}

// ServeDNS implements dns.Handler.
func (h *handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := h.answer(req)
	_, tcp := w.LocalAddr().(*net.TCPAddr)
	size := dns.MinMsgSize
	if tcp {
		size = dns.MaxMsgSize
	}
	if opt := req.IsEdns0(); opt != nil {
		if opt.Version() != 0 {
			// RFC 6891 §6.1.3: only version 0 exists; answer BADVERS and
			// nothing else, so the client retries with version 0.
			resp = new(dns.Msg)
			resp.SetRcode(req, dns.RcodeBadVers)
		}
		// RFC 6891 §7: reply with an OPT record of our own.
		resp.SetEdns0(edns0Limit, false)
		if !tcp {
			size = max(dns.MinMsgSize, min(int(opt.UDPSize()), edns0Limit))
		}
	}
	resp.Truncate(size) // sets TC when the answer does not fit (RFC 1035 §4.2.1)
	if len(req.Question) == 1 {
		q := req.Question[0]
		h.log.LogAttrs(context.Background(), slog.LevelDebug, "query",
			slog.String("name", q.Name), slog.String("type", dns.TypeToString[q.Qtype]),
			slog.String("rcode", dns.RcodeToString[resp.Rcode]), slog.Bool("tcp", tcp))
	}
	_ = w.WriteMsg(resp) // the client went away; nothing to do
}

// answer builds the response to req. Names outside the zone are REFUSED,
// as an authoritative-only server does (RFC 1034 §4.3.2 step 2 does not
// apply: there is no recursion and no cache).
func (h *handler) answer(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = false
	if req.Opcode != dns.OpcodeQuery {
		resp.Rcode = dns.RcodeNotImplemented
		return resp
	}
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	if (q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY) || !dns.IsSubDomain(h.store.cfg.zone, name) {
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		// The zone lives in this process only; there are no secondaries
		// to transfer it to.
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	resp.Authoritative = true
	answer, extra, soa, exists := h.store.lookup(q.Name, q.Qtype)
	resp.Answer, resp.Extra = answer, extra
	if len(answer) == 0 {
		// RFC 2308 §2.1 and §2.2: NXDOMAIN or NODATA, with the SOA in the
		// authority section for negative caching.
		if !exists {
			resp.Rcode = dns.RcodeNameError
		}
		soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
		resp.Ns = []dns.RR{soa}
	}
	return resp
}

// lookup returns the records at owner (as asked, any case) of type qtype,
// additional-section glue, the zone's SOA, and whether owner exists at all;
// an empty non-terminal such as the parent of a presented name exists
// (RFC 8020).
func (s *store) lookup(owner string, qtype uint16) (answer, extra []dns.RR, soa *dns.SOA, exists bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.cfg
	name := dns.CanonicalName(owner)
	soa = &dns.SOA{
		Hdr:     dns.RR_Header{Name: c.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: infraTTL},
		Ns:      c.ns,
		Mbox:    "hostmaster." + c.zone,
		Serial:  s.serial,
		Refresh: 300,
		Retry:   60,
		Expire:  86400,
		Minttl:  negTTL,
	}
	want := func(t uint16) bool { return qtype == t || qtype == dns.TypeANY }
	hdr := func(t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	nsInZone := dns.IsSubDomain(c.zone, c.ns)
	if name == c.zone {
		exists = true
		if want(dns.TypeSOA) {
			apex := *soa
			apex.Hdr.Name = owner
			answer = append(answer, &apex)
		}
		if want(dns.TypeNS) {
			answer = append(answer, &dns.NS{Hdr: hdr(dns.TypeNS, infraTTL), Ns: c.ns})
			if nsInZone {
				// RFC 1034 §4.3.2: addresses of in-zone name servers go in
				// the additional section.
				extra = s.address(c.ns, dns.TypeANY)
			}
		}
	}
	if nsInZone && name == c.ns {
		exists = true
		answer = append(answer, s.address(owner, qtype)...)
	}
	if vals, ok := s.txt[name]; ok {
		exists = true
		if want(dns.TypeTXT) {
			for _, v := range vals {
				answer = append(answer, &dns.TXT{Hdr: hdr(dns.TypeTXT, v.ttl), Txt: txtrr.Strings(v.value)})
			}
		}
	}
	if !exists {
		for n := range s.txt {
			if dns.IsSubDomain(name, n) {
				exists = true
				break
			}
		}
	}
	return answer, extra, soa, exists
}

// address returns the name server's A or AAAA record at owner if qtype asks
// for its family.
func (s *store) address(owner string, qtype uint16) []dns.RR {
	ip := s.cfg.nsAddr
	if !ip.IsValid() {
		return nil
	}
	if ip.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY) {
		return []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: infraTTL}, A: ip.AsSlice()}}
	}
	if ip.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY) {
		return []dns.RR{&dns.AAAA{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: infraTTL}, AAAA: ip.AsSlice()}}
	}
	return nil
}

// server is the pair of UDP and TCP listeners on one address.
type server struct {
	udp, tcp *dns.Server
	once     sync.Once
	err      error
}

func (s *server) udpAddr() net.Addr { return s.udp.PacketConn.LocalAddr() }
func (s *server) tcpAddr() net.Addr { return s.tcp.Listener.Addr() }

// startServer listens on addr over UDP and TCP (the same port; with port 0
// the kernel picks one free for both) and serves h until close.
func startServer(ctx context.Context, addr string, h dns.Handler) (*server, error) {
	ln, pc, err := listenBoth(ctx, addr)
	if err != nil {
		return nil, err
	}
	started := make(chan struct{}, 2)
	errc := make(chan error, 2)
	s := &server{
		udp: &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }},
		tcp: &dns.Server{Listener: ln, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }},
	}
	go func() { errc <- s.udp.ActivateAndServe() }()
	go func() { errc <- s.tcp.ActivateAndServe() }()
	for range 2 {
		select {
		case <-started:
		case err := <-errc:
			pc.Close()
			ln.Close()
			return nil, fmt.Errorf("serving DNS on %s: %w", addr, err)
		case <-ctx.Done():
			pc.Close()
			ln.Close()
			return nil, ctx.Err()
		}
	}
	return s, nil
}

// listenBoth binds TCP and UDP on addr.
func listenBoth(ctx context.Context, addr string) (net.Listener, net.PacketConn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	var lc net.ListenConfig
	attempts := 1
	if port == "0" {
		attempts = 20 // the TCP port may be taken for UDP; try another
	}
	for i := 0; ; i++ {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, listenError(addr, "tcp", err)
		}
		udpAddr := net.JoinHostPort(host, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
		pc, err := lc.ListenPacket(ctx, "udp", udpAddr)
		if err == nil {
			return ln, pc, nil
		}
		ln.Close()
		if i+1 >= attempts || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, listenError(udpAddr, "udp", err)
		}
	}
}

// listenError adds the usual cause to the two errors people meet.
func listenError(addr, network string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, syscall.EACCES):
		hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		hint = " (the address is not configured on any interface of this host)"
	case errors.Is(err, syscall.EADDRINUSE):
		hint = " (another process serves this port; is a DNS server already running?)"
	}
	return fmt.Errorf("listening on %s (%s): %w%s", addr, network, err, hint)
}

// close stops both listeners and waits for in-flight queries.
func (s *server) close() error {
	s.once.Do(func() {
		s.err = errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
	})
	return s.err
}
