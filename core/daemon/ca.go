package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zonecert/zonecert/core/acme"
)

// caTransport sits under every order's ACME client and counts the CA's
// badNonce and rate-limit answers for the metrics. (The bound on newOrder
// requests in flight is the ACME client's: acme.Options.NewOrderConcurrency;
// across a fleet, fleet adds its own around each newOrder request.)
type caTransport struct {
	base http.RoundTripper
	m    *metrics

	// Set once, before the generation's first request.
	fleet       *fleetGate                                // fleetgate.go
	newOrderURL func(ctx context.Context) (string, error) // the directory's newOrder
}

func newCATransport(base http.RoundTripper, m *metrics) *caTransport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &caTransport{base: base, m: m}
}

func (t *caTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.fleet != nil && t.isNewOrder(req) {
		return t.newOrderSlot(req, t.count)
	}
	return t.count(req)
}

func (t *caTransport) count(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		t.m.rateLimited.Inc()
	case resp.StatusCode >= 400 && isProblem(resp):
		body := peek(resp, 64<<10)
		var p struct{ Type string }
		if json.Unmarshal(body, &p) == nil {
			switch p.Type {
			case acme.ProblemBadNonce:
				t.m.badNonce.Inc()
			case acme.ProblemRateLimited:
				t.m.rateLimited.Inc()
			}
		}
	}
	return resp, nil
}

func isProblem(resp *http.Response) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt == "application/problem+json"
}

// peek reads up to n bytes of the body and puts them back in front of the
// rest, so the ACME client reads the answer unchanged.
func peek(resp *http.Response, n int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, n))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), resp.Body), resp.Body}
	return b
}

// gate remembers, per CA account, until when the CA asked us to stay away
// (a rateLimited problem's Retry-After, RFC 8555 §6.6). No new order goes to
// that account before then.
type gate struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func accountKey(dirURL, email string) string { return dirURL + "\x00" + strings.ToLower(email) }

func (g *gate) blockedUntil(key string) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until[key]
}

func (g *gate) block(key string, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.until == nil {
		g.until = map[string]time.Time{}
	}
	if until.After(g.until[key]) {
		g.until[key] = until
	}
}
