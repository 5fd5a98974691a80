package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/sdk"
)

const testSecret = "c2VjcmV0LWZvci10ZXN0cy0wMTIzNDU2Nzg5YWJjZGVm"

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	good := Settings{Nameserver: "ns1.example.com", TSIGKey: "key", TSIGSecret: testSecret, TSIGAlgorithm: "hmac-sha256.", TTL: 120, Timeout: time.Second}
	tests := []struct {
		name    string
		edit    func(*Settings)
		wantErr string // substring; empty means valid
		check   func(*testing.T, config)
	}{
		{"defaults", func(*Settings) {}, "", func(t *testing.T, c config) {
			if c.server != "ns1.example.com:53" || c.key != "key." || c.alg != dns.HmacSHA256 || c.ttl != 120 {
				t.Errorf("config = %+v", c)
			}
		}},
		{"host and port", func(s *Settings) { s.Nameserver = "192.0.2.1:5353" }, "", func(t *testing.T, c config) {
			if c.server != "192.0.2.1:5353" {
				t.Errorf("server = %q", c.server)
			}
		}},
		{"bare IPv6", func(s *Settings) { s.Nameserver = "2001:db8::1" }, "", func(t *testing.T, c config) {
			if c.server != "[2001:db8::1]:53" {
				t.Errorf("server = %q", c.server)
			}
		}},
		{"bracketed IPv6 with port", func(s *Settings) { s.Nameserver = "[2001:db8::1]:54" }, "", func(t *testing.T, c config) {
			if c.server != "[2001:db8::1]:54" {
				t.Errorf("server = %q", c.server)
			}
		}},
		{"algorithm without dot, upper case", func(s *Settings) { s.TSIGAlgorithm = "HMAC-SHA512" }, "", func(t *testing.T, c config) {
			if c.alg != dns.HmacSHA512 {
				t.Errorf("alg = %q", c.alg)
			}
		}},
		{"no TSIG", func(s *Settings) { s.TSIGKey, s.TSIGSecret = "", "" }, "", func(t *testing.T, c config) {
			if c.key != "" {
				t.Errorf("key = %q", c.key)
			}
		}},
		{"missing nameserver", func(s *Settings) { s.Nameserver = "" }, "nameserver: RFC2136_NAMESERVER: required", nil},
		{"bad port", func(s *Settings) { s.Nameserver = "ns1.example.com:99999" }, "nameserver: RFC2136_NAMESERVER", nil},
		{"key without secret", func(s *Settings) { s.TSIGSecret = "" }, "tsig_secret: RFC2136_TSIG_SECRET is required", nil},
		{"secret without key", func(s *Settings) { s.TSIGKey = "" }, "tsig_key: RFC2136_TSIG_KEY is required", nil},
		{"secret not base64", func(s *Settings) { s.TSIGSecret = "not base64 !!" }, "tsig_secret: RFC2136_TSIG_SECRET is not valid base64", nil},
		{"md5 refused", func(s *Settings) { s.TSIGAlgorithm = "hmac-md5.sig-alg.reg.int." }, "tsig_algorithm: RFC2136_TSIG_ALGORITHM", nil},
		{"negative TTL", func(s *Settings) { s.TTL = -1 }, "ttl: RFC2136_TTL", nil},
		{"zero timeout", func(s *Settings) { s.Timeout = 0 }, "timeout: RFC2136_DNS_TIMEOUT", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := good
			tt.edit(&s)
			c, err := s.validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				tt.check(t, c)
				return
			}
			var se *sdk.SettingsError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("validate error = %v; want a SettingsError mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "not base64 !!") {
				t.Fatalf("error echoes the secret: %v", err)
			}
		})
	}
}

// updateServer is a miekg/dns server that verifies TSIG with any algorithm
// and records the UPDATE messages it accepts.
type updateServer struct {
	addr string
	mu   sync.Mutex
	got  []*dns.Msg
}

func startUpdateServer(t *testing.T, key, secret string) *updateServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	us := &updateServer{addr: ln.Addr().String()}
	started := make(chan struct{})
	srv := &dns.Server{
		Listener:          ln,
		TsigSecret:        map[string]string{key: secret},
		NotifyStartedFunc: func() { close(started) },
		MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction {
			return dns.MsgAccept // the default refuses UPDATE
		},
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			resp := new(dns.Msg)
			resp.SetReply(req)
			tsig := req.IsTsig()
			switch {
			case tsig == nil || w.TsigStatus() != nil:
				resp.Rcode = dns.RcodeNotAuth
			default:
				if req.Opcode == dns.OpcodeUpdate { // not the TTL queries before it
					us.mu.Lock()
					us.got = append(us.got, req.Copy())
					us.mu.Unlock()
				}
				resp.SetTsig(tsig.Hdr.Name, tsig.Algorithm, 300, time.Now().Unix())
			}
			_ = w.WriteMsg(resp)
		}),
	}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return us
}

func TestTSIGAlgorithms(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			us := startUpdateServer(t, "k.", testSecret)
			p := mustProvider(t, Settings{Nameserver: us.addr, TSIGKey: "k", TSIGSecret: testSecret, TSIGAlgorithm: alg, TTL: 90, Timeout: 5 * time.Second})
			mustOK(t, call(t, p.Present,
				rec("1", "_acme-challenge.a.example.test.", "example.test.", "one"),
				rec("2", "_acme-challenge.b.example.test.", "example.test.", "two"),
				rec("3", "_acme-challenge.c.other.test.", "other.test.", "three")))
			us.mu.Lock()
			defer us.mu.Unlock()
			if len(us.got) != 2 {
				t.Fatalf("server got %d UPDATE messages; want one per zone (2)", len(us.got))
			}
			for _, m := range us.got {
				if got := m.IsTsig().Algorithm; got != alg+"." {
					t.Errorf("signed with %s; want %s.", got, alg)
				}
				zone := m.Question[0].Name
				for _, rr := range m.Ns {
					txt, ok := rr.(*dns.TXT)
					if !ok || !dns.IsSubDomain(zone, txt.Hdr.Name) || txt.Hdr.Class != dns.ClassINET || txt.Hdr.Ttl != 90 {
						t.Errorf("zone %s: unexpected update RR %v", zone, rr)
					}
				}
			}
		})
	}
}

func TestCancelReturnsPromptly(t *testing.T) {
	t.Parallel()
	// A server that accepts one connection and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	p := mustProvider(t, Settings{Nameserver: ln.Addr().String(), TSIGAlgorithm: "hmac-sha256", TTL: 60, Timeout: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan []sdk.Result, 1)
	go func() {
		res, _ := p.Present(ctx, []sdk.Record{rec("1", "_acme-challenge.example.test.", "example.test.", "v")})
		done <- res
	}()
	conn := <-accepted // the update is in flight
	defer conn.Close()
	cancel()
	res := <-done // with a one-hour timeout, only cancellation ends this
	if len(res) != 1 || res[0].Err == nil || res[0].Err.Code != plugin.CodeOther || !strings.Contains(res[0].Err.Message, "cancelled") {
		t.Fatalf("results after cancel = %+v; want one CodeOther \"cancelled\" error", res)
	}
}

// TestUnsignedNotAuthIsAuth covers servers that reject a key with a bare,
// unsigned NOTAUTH instead of a TSIG error (the fake answers so); BIND's
// signed NOTAUTH for a zone it does not serve stays zone-not-found
// (TestBINDErrors).
func TestUnsignedNotAuthIsAuth(t *testing.T) {
	t.Parallel()
	us := startUpdateServer(t, "k.", testSecret)
	p := mustProvider(t, Settings{Nameserver: us.addr, TSIGKey: "k", TSIGSecret: "b3RoZXItc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWY=",
		TSIGAlgorithm: "hmac-sha256", TTL: 60, Timeout: 5 * time.Second})
	e := call(t, p.Present, rec("1", "_acme-challenge.example.test.", "example.test.", "v"))["1"]
	if e == nil || e.Code != plugin.CodeAuth || e.Retryable || !strings.Contains(e.Message, "RFC2136_TSIG_SECRET") {
		t.Fatalf("error %v; want a non-retryable auth error naming the settings to check", e)
	}
	us.mu.Lock()
	defer us.mu.Unlock()
	if len(us.got) != 0 {
		t.Fatalf("the fake accepted %d updates signed with the wrong secret", len(us.got))
	}
}

// TestSilentServerTimesOut: a server that accepts the connection and never
// answers costs RFC2136_DNS_TIMEOUT, then a retryable error naming it.
func TestSilentServerTimesOut(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 4)
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-conns:
				c.Close()
			default:
				return
			}
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c // held open, never answered
		}
	}()
	p := mustProvider(t, Settings{Nameserver: ln.Addr().String(), TSIGAlgorithm: "hmac-sha256", TTL: 60, Timeout: 200 * time.Millisecond})
	e := call(t, p.Present, rec("1", "_acme-challenge.example.test.", "example.test.", "v"))["1"]
	if e == nil || e.Code != plugin.CodeOther || !e.Retryable || !strings.Contains(e.Message, "RFC2136_DNS_TIMEOUT") {
		t.Fatalf("error %v; want a retryable error naming RFC2136_DNS_TIMEOUT", e)
	}
}
