// Package fakeacmedns is a local joohoi/acme-dns for tests: its HTTP API
// (POST /register, POST /update with X-Api-User and X-Api-Key, GET
// /health) with acme-dns's answers and error bodies, and its authoritative
// DNS server for the zone, which serves each account's values.
//
// As acme-dns does, it keeps exactly two TXT values per account: an update
// overwrites the older one, and nothing is ever deleted. An account
// registered with allowfrom accepts updates only from those networks. A
// value must be 43 characters of base64url, the shape of a DNS-01 digest.
package fakeacmedns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

// Server is a running fake; it stops when the test ends.
type Server struct {
	// URL is the API base.
	URL string
	// Zone is the acme-dns zone, absolute, lower case ("auth.example.test.").
	Zone string
	// DNS is the host:port of its authoritative DNS server.
	DNS string

	nsAddr netip.Addr

	mu       sync.Mutex
	accounts map[string]*acct // by username
	updates  int
}

type acct struct {
	username, password, subdomain string
	allow                         []netip.Prefix
	txt                           [2]string // acme-dns's two rows
	stamp                         [2]int    // update order of each row
}

// Start runs the API on 127.0.0.1 and the DNS server on dnsAddr (host:port;
// empty means an ephemeral 127.0.0.1 port) for zone.
func Start(t testing.TB, zone, dnsAddr string) *Server {
	t.Helper()
	s := &Server{Zone: dns.CanonicalName(zone), accounts: map[string]*acct{}}
	api := httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(api.Close)
	s.URL = api.URL
	var pc net.PacketConn
	var ln net.Listener
	var err error
	if dnsAddr == "" {
		pc, ln, err = dnstest.ListenPair()
	} else if pc, err = net.ListenPacket("udp", dnsAddr); err == nil {
		if ln, err = net.Listen("tcp", dnsAddr); err != nil {
			_ = pc.Close()
		}
	}
	if err != nil {
		t.Fatalf("fakeacmedns: listening for DNS: %v", err)
	}
	s.DNS = pc.LocalAddr().String()
	s.nsAddr = netip.MustParseAddrPort(s.DNS).Addr()
	var started sync.WaitGroup
	started.Add(2)
	servers := []*dns.Server{
		{PacketConn: pc, Handler: dns.HandlerFunc(s.serveDNS), NotifyStartedFunc: started.Done},
		{Listener: ln, Handler: dns.HandlerFunc(s.serveDNS), NotifyStartedFunc: started.Done},
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
	return s
}

// Updates counts the accepted updates.
func (s *Server) Updates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates
}

// TXT returns the values served at fqdn.
func (s *Server) TXT(fqdn string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := strings.CutSuffix(dns.CanonicalName(fqdn), "."+s.Zone)
	if !ok {
		return nil
	}
	for _, a := range s.accounts {
		if a.subdomain == sub {
			var out []string
			for _, v := range a.txt {
				if v != "" {
					out = append(out, v)
				}
			}
			return out
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/health" && r.Method == http.MethodGet:
		w.WriteHeader(http.StatusOK)
	case r.URL.Path == "/register" && r.Method == http.MethodPost:
		s.register(w, r)
	case r.URL.Path == "/update" && r.Method == http.MethodPost:
		s.update(w, r)
	default:
		http.NotFound(w, r)
	}
}

func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AllowFrom []string `json:"allowfrom"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeError(w, http.StatusBadRequest, "malformed_json_payload")
			return
		}
	}
	a := &acct{username: uuid(), subdomain: uuid()}
	pw := make([]byte, 20)
	_, _ = rand.Read(pw)
	a.password = hex.EncodeToString(pw)
	for _, c := range in.AllowFrom {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_allowfrom_cidr")
			return
		}
		a.allow = append(a.allow, p)
	}
	s.mu.Lock()
	s.accounts[a.username] = a
	s.mu.Unlock()
	allow := in.AllowFrom
	if allow == nil {
		allow = []string{}
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"username": a.username, "password": a.password, "subdomain": a.subdomain,
		"fulldomain": a.subdomain + "." + strings.TrimSuffix(s.Zone, "."), "allowfrom": allow,
	})
}

// validTXT is acme-dns's check: a DNS-01 digest, 43 base64url characters.
func validTXT(v string) bool {
	if len(v) != 43 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Subdomain string `json:"subdomain"`
		TXT       string `json:"txt"`
	}
	s.mu.Lock()
	a := s.accounts[r.Header.Get("X-Api-User")]
	s.mu.Unlock()
	if a == nil || r.Header.Get("X-Api-Key") != a.password || !allowed(a, r.RemoteAddr) {
		writeError(w, http.StatusUnauthorized, "forbidden")
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "malformed_json_payload")
		return
	}
	switch {
	case in.Subdomain != a.subdomain:
		writeError(w, http.StatusUnauthorized, "forbidden")
		return
	case !validTXT(in.TXT):
		writeError(w, http.StatusBadRequest, "bad_txt")
		return
	}
	s.mu.Lock()
	s.updates++
	older := 0
	if a.stamp[1] < a.stamp[0] {
		older = 1
	}
	a.txt[older], a.stamp[older] = in.TXT, s.updates
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"txt": in.TXT})
}

func allowed(a *acct, remote string) bool {
	if len(a.allow) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	for _, p := range a.allow {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
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
	name := dns.CanonicalName(q.Name)
	if !dns.IsSubDomain(s.Zone, name) {
		m.Rcode = dns.RcodeRefused
		_ = w.WriteMsg(m)
		return
	}
	m.Authoritative = true
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: 1}
	}
	ns := "ns1." + s.Zone
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: s.Zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 1},
		Ns: ns, Mbox: "admin." + s.Zone, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 1}
	exists := true
	switch {
	case name == s.Zone && q.Qtype == dns.TypeSOA:
		m.Answer = append(m.Answer, soa)
	case name == s.Zone && q.Qtype == dns.TypeNS:
		m.Answer = append(m.Answer, &dns.NS{Hdr: hdr(dns.TypeNS), Ns: ns})
	case name == s.Zone:
	case name == ns:
		if q.Qtype == dns.TypeA && s.nsAddr.Is4() {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: s.nsAddr.AsSlice()})
		}
	default:
		values := s.TXT(name)
		exists = len(values) > 0
		if q.Qtype == dns.TypeTXT {
			for _, v := range values {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: []string{v}})
			}
		}
	}
	if len(m.Answer) == 0 {
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, soa)
	}
	_ = w.WriteMsg(m)
}
