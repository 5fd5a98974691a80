// Package faultproxy is a fault-injecting reverse proxy for tests: it sits
// in front of a real ACME server (Pebble) and answers chosen requests with
// a 500, a 503 or 429 with Retry-After, a dropped connection or a malformed
// JSON body. Everything else passes through unchanged. It also counts the
// names the client orders (Orders) and can hold a step's answer (Hold).
//
// The proxy keeps the client's Host header, so Pebble builds every URL
// (directory, Location, Link) with the proxy's address and checks JWS "url"
// headers against it: clients talk only to the proxy.
package faultproxy

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Kind is what the proxy does instead of a normal answer.
type Kind string

// Faults. Status faults never reach the server; Drop and Malformed forward
// the request (the server acts on it) and spoil the answer, the harder case
// for a client.
const (
	Status500   Kind = "500"
	Status503   Kind = "503+Retry-After"
	Status429   Kind = "429+Retry-After"
	Drop        Kind = "dropped connection"
	Malformed   Kind = "malformed JSON"
	retryAfterS      = 1
)

// Kinds lists every fault.
var Kinds = []Kind{Status500, Status503, Status429, Drop, Malformed}

// Steps maps the ACME steps to Pebble's URL path prefixes.
var Steps = map[string]string{
	"directory":   "/dir",
	"nonce":       "/nonce-plz",
	"account":     "/sign-me-up",
	"new-order":   "/order-plz",
	"authz":       "/authZ/",
	"challenge":   "/chalZ/",
	"finalize":    "/finalize-order/",
	"order":       "/my-order/",
	"certificate": "/certZ/",
}

// Fault is one rule: the first Times requests (default 1) whose path
// starts with Steps[Step] get Kind.
type Fault struct {
	Step  string
	Kind  Kind
	Times int
}

// Proxy is a running fault proxy.
type Proxy struct {
	// DirectoryURL is the upstream directory reached through the proxy.
	DirectoryURL string
	// CABundlePEM is the proxy's TLS certificate, for --ca-bundle.
	CABundlePEM []byte

	srv *httptest.Server
	rp  *httputil.ReverseProxy

	mu        sync.Mutex
	faults    []Fault
	fired     map[Kind]int
	seen      map[string]int // requests per step, faulted or not
	orders    map[string]int // orders created per identifier
	orderReqs map[string]int // newOrder requests per identifier
	holds     []*Held        // armed
	held      []*Held        // taken, released on Close
}

// Start runs a proxy for the directory at upstream (an https URL whose
// server the transport trusts) with faults armed; Close stops it.
func Start(upstream string, transport http.RoundTripper, faults ...Fault) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	target := &url.URL{Scheme: u.Scheme, Host: u.Host}
	p := &Proxy{faults: faults, fired: map[Kind]int{}, seen: map[string]int{}, orders: map[string]int{}, orderReqs: map[string]int{}}
	for i := range p.faults {
		if p.faults[i].Times <= 0 {
			p.faults[i].Times = 1
		}
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // Pebble builds URLs and checks JWS with it
		},
		Transport:      transport,
		ModifyResponse: p.countCreated,
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.StartTLS()
	p.DirectoryURL = p.srv.URL + u.Path
	p.CABundlePEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	return p, nil
}

// Close releases every held answer and stops the proxy.
func (p *Proxy) Close() {
	p.mu.Lock()
	held := p.held
	p.mu.Unlock()
	for _, h := range held {
		h.Release()
	}
	p.srv.Close()
}

// Fired is how many requests got a fault.
func (p *Proxy) Fired() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.fired {
		n += v
	}
	return n
}

// Client trusts the proxy, for in-process clients.
func (p *Proxy) Client() *http.Client { return p.srv.Client() }

// take returns the fault for a request to path, if one is armed.
func (p *Proxy) take(path string) (Kind, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.faults {
		f := &p.faults[i]
		if f.Times > 0 && strings.HasPrefix(path, Steps[f.Step]) {
			f.Times--
			p.fired[f.Kind]++
			return f.Kind, true
		}
	}
	return "", false
}

// Seen is how many requests for step (a Steps key) reached the proxy,
// faulted or not: e.g. Seen("new-order") counts orders the CA was asked
// for.
func (p *Proxy) Seen(step string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[step]
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	for step, prefix := range Steps {
		if strings.HasPrefix(r.URL.Path, prefix) {
			p.seen[step]++
		}
	}
	p.mu.Unlock()
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, Steps["new-order"]) {
		r = p.readOrder(r)
	}
	if h := p.takeHold(r.URL.Path); h != nil {
		p.hold(w, r, h)
		return
	}
	kind, ok := p.take(r.URL.Path)
	if !ok {
		p.rp.ServeHTTP(w, r)
		return
	}
	problem := func(status int, typ, detail string) {
		w.Header().Set("Content-Type", "application/problem+json")
		if status != http.StatusInternalServerError {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterS))
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"type":"urn:ietf:params:acme:error:`+typ+`","detail":"`+detail+` (faultproxy)"}`)
	}
	switch kind {
	case Status500:
		problem(http.StatusInternalServerError, "serverInternal", "injected internal error")
	case Status503:
		problem(http.StatusServiceUnavailable, "serverInternal", "injected unavailability")
	case Status429:
		problem(http.StatusTooManyRequests, "rateLimited", "injected rate limit")
	case Drop, Malformed:
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r) // the server acts on it; the answer is lost
		if kind == Drop {
			hj, ok := w.(http.Hijacker)
			if !ok {
				panic("faultproxy: cannot hijack")
			}
			conn, _, err := hj.Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		body := rec.Body.Bytes()
		if i := bytes.IndexByte(body, '{'); i >= 0 {
			body = body[:i+len(body[i:])/2] // cut mid-object
		} else {
			body = []byte(`{"status":`)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}
}
