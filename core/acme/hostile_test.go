package acme

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// fakeCA is an httptest server for hostile and malformed answers. It serves
// a directory and nonces; tests add handlers for the rest. It is no CA, since
// the protocol itself is proven against Pebble, but it checks every signed
// request as a strict CA does before any handler runs (RFC 8555 §6.2, §6.4,
// §6.5): a flattened JWS with a valid signature by its jwk or by a known kid,
// a url header naming the target, and a nonce it issued and nobody has used.
// A failed check is answered as a CA would and recorded; the test fails at
// cleanup unless it claimed the violations with takeViolations. So every
// retry path (5xx, reset, 429, badNonce) is checked for nonce reuse.
type fakeCA struct {
	srv        *httptest.Server
	mu         sync.Mutex
	handlers   map[string]http.HandlerFunc
	hits       map[string][]time.Time
	issued     map[string]bool // nonces sent and not yet used
	keys       map[string]crypto.PublicKey
	violations []string
	nonce      atomic.Int64
	log        *countingHandler
}

func newFakeCA(t *testing.T) *fakeCA {
	t.Helper()
	f := &fakeCA{handlers: map[string]http.HandlerFunc{}, hits: map[string][]time.Time{},
		issued: map[string]bool{}, keys: map[string]crypto.PublicKey{}, log: &countingHandler{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() {
		if v := f.takeViolations(); len(v) > 0 {
			t.Errorf("the client sent requests a CA refuses:\n%s", strings.Join(v, "\n"))
		}
	})
	f.handle("/dir", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{
			"newNonce": f.url("/nonce"), "newAccount": f.url("/acct"), "newOrder": f.url("/order"),
			"revokeCert": f.url("/revoke"), "keyChange": f.url("/keychange"), "renewalInfo": f.url("/ari"),
			"meta": map[string]any{"termsOfService": "https://example.com/tos", "profiles": map[string]string{"classic": "c"}},
		})
	})
	f.handle("/nonce", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	return f
}

func (f *fakeCA) url(p string) string { return f.srv.URL + p }

func (f *fakeCA) handle(p string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[p] = h
}

// register makes kid (an account URL) name pub in signed requests.
func (f *fakeCA) register(kid string, pub crypto.PublicKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[kid] = pub
}

// takeViolations returns the refused requests so far and forgets them.
func (f *fakeCA) takeViolations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.violations
	f.violations = nil
	return v
}

func (f *fakeCA) count(p string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.hits[p])
}

func (f *fakeCA) times(p string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.hits[p]...)
}

func (f *fakeCA) serve(w http.ResponseWriter, r *http.Request) {
	n := fmt.Sprintf("n%d", f.nonce.Add(1))
	f.mu.Lock()
	f.hits[r.URL.Path] = append(f.hits[r.URL.Path], time.Now())
	h := f.handlers[r.URL.Path]
	f.issued[n] = true
	f.mu.Unlock()
	w.Header().Set("Replay-Nonce", n)
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		if typ, detail := f.verify(r, b); typ != "" {
			f.mu.Lock()
			f.violations = append(f.violations, fmt.Sprintf("POST %s: %s", r.URL.Path, detail))
			f.mu.Unlock()
			writeProblem(w, 400, fmt.Sprintf(`{"type":%q,"detail":%q}`, typ, detail))
			return
		}
	}
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

// verify checks a signed request as a CA does; it returns the problem type
// and detail of a refusal, or "" when the request is sound. The nonce is
// spent whether or not the rest holds (§6.5).
func (f *fakeCA) verify(r *http.Request, body []byte) (string, string) {
	const malformed, badNonce = "urn:ietf:params:acme:error:malformed", "urn:ietf:params:acme:error:badNonce"
	jws, err := jose.ParseSigned(string(body), []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return malformed, fmt.Sprintf("not a JWS with one signature: %v", err)
	}
	h := jws.Signatures[0].Protected
	f.mu.Lock()
	fresh := f.issued[h.Nonce]
	delete(f.issued, h.Nonce)
	pub, known := f.keys[h.KeyID]
	f.mu.Unlock()
	if !fresh {
		return badNonce, fmt.Sprintf("nonce %q was used before or never issued", h.Nonce)
	}
	if u := fmt.Sprint(h.ExtraHeaders["url"]); u != f.url(r.URL.Path) {
		return "urn:ietf:params:acme:error:unauthorized", fmt.Sprintf("url header %q names another resource", u)
	}
	var key any
	switch {
	case h.JSONWebKey != nil && h.KeyID == "":
		key = h.JSONWebKey
	case h.JSONWebKey == nil && known:
		key = pub
	case h.JSONWebKey == nil:
		return "urn:ietf:params:acme:error:accountDoesNotExist", fmt.Sprintf("unknown kid %q", h.KeyID)
	default:
		return malformed, "both jwk and kid"
	}
	if _, err := jws.Verify(key); err != nil {
		return malformed, fmt.Sprintf("signature does not verify: %v", err)
	}
	return "", ""
}

func (f *fakeCA) client(t *testing.T, mod func(*Options)) *Client {
	t.Helper()
	opts := Options{
		DirectoryURL: f.url("/dir"), HTTPClient: f.srv.Client(), Version: "test", AllowInsecureHTTP: true,
		Logger: slog.New(f.log), RetryBackoff: 10 * time.Millisecond, PollInterval: 10 * time.Millisecond, MaxBackoff: 2 * time.Second,
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// testAccount returns an account the fake knows, with a URL of its own.
func testAccount(t *testing.T, f *fakeCA) Account {
	a := Account{Key: mustKey(t, KeyECDSAP256), URL: f.url(fmt.Sprintf("/acct/k%d", f.nonce.Add(1)))}
	f.register(a.URL, a.Key.Public())
	return a
}

func orderJSON(f *fakeCA, status string) map[string]any {
	o := map[string]any{"status": status, "identifiers": []Identifier{{"dns", "example.com"}},
		"authorizations": []string{f.url("/authz/1")}, "finalize": f.url("/finalize/1")}
	if status == StatusValid {
		o["certificate"] = f.url("/cert/1")
	}
	return o
}

func TestHostileMissingLocation(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	f.handle("/acct", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, map[string]any{"status": "valid"})
	})
	f.handle("/order", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 201, orderJSON(f, "pending")) })
	c := f.client(t, nil)
	if _, err := c.NewAccount(t.Context(), mustKey(t, KeyECDSAP256), NewAccountRequest{}); err == nil || !strings.Contains(err.Error(), "Location") {
		t.Errorf("NewAccount without Location: %v", err)
	}
	if _, err := c.NewOrder(t.Context(), testAccount(t, f), OrderRequest{Identifiers: DNSIdentifiers("example.com")}); err == nil || !strings.Contains(err.Error(), "Location") {
		t.Errorf("NewOrder without Location: %v", err)
	}
}

func TestHostileContentType(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	f.handle("/cert/1", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"not": "a chain"})
	})
	f.handle("/order/1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>hello</html>")
	})
	c := f.client(t, nil)
	acct := testAccount(t, f)
	if _, err := c.GetCertificate(t.Context(), acct, f.url("/cert/1")); err == nil || !strings.Contains(err.Error(), "content type") {
		t.Errorf("certificate as JSON: %v", err)
	}
	if _, err := c.GetOrder(t.Context(), acct, f.url("/order/1")); err == nil || !strings.Contains(err.Error(), "content type") {
		t.Errorf("order as HTML: %v", err)
	}
}

func TestHostileHugeBody(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	f.handle("/dir", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"x":"`)
		chunk := strings.Repeat("a", 1<<16)
		for range 64 { // 4 MiB, endless as far as the client cares
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	})
	c := f.client(t, func(o *Options) { o.MaxResponseBytes = 1 << 20 })
	if _, err := c.Directory(t.Context()); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("Directory with a 4 MiB body: %v, want ErrBodyTooLarge", err)
	}
}

func TestHostileSubproblems(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	f.handle("/order", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, 400, `{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"2 names refused",
		"subproblems":[{"type":"urn:ietf:params:acme:error:caa","detail":"CAA forbids","identifier":{"type":"dns","value":"a.example"}},
		{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"blocked","identifier":{"type":"dns","value":"b.example"}}]}`)
	})
	c := f.client(t, nil)
	_, err := c.NewOrder(t.Context(), testAccount(t, f), OrderRequest{Identifiers: DNSIdentifiers("a.example", "b.example")})
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("NewOrder: %v, want *Problem", err)
	}
	if p.Type != ProblemRejectedIdentifier || p.Status != 400 || len(p.Subproblems) != 2 {
		t.Fatalf("problem = %+v", p)
	}
	if s := p.Subproblems[0]; s.Type != ProblemCAA || s.Identifier == nil || s.Identifier.Value != "a.example" {
		t.Errorf("subproblem 0 = %+v", s)
	}
	msg := err.Error()
	for _, want := range []string{"creating order", "rejectedIdentifier", "a.example: caa: CAA forbids", "b.example"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	lv := p.LogValue().String()
	if !strings.Contains(lv, "a.example") || !strings.Contains(lv, "rejectedIdentifier") {
		t.Errorf("LogValue = %s", lv)
	}
}

func TestHostileRetryAfter(t *testing.T) {
	t.Parallel()
	t.Run("503 then directory", func(t *testing.T) {
		t.Parallel()
		f := newFakeCA(t)
		var n atomic.Int32
		dir := f.handlers["/dir"]
		f.handle("/dir", func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				writeProblem(w, 503, `{"type":"urn:ietf:params:acme:error:serverInternal","detail":"busy"}`)
				return
			}
			dir(w, r)
		})
		if _, err := f.client(t, nil).Directory(t.Context()); err != nil {
			t.Fatalf("Directory after one 503: %v", err)
		}
		ts := f.times("/dir")
		if len(ts) != 2 {
			t.Fatalf("directory fetched %d times, want 2", len(ts))
		}
		if gap := ts[1].Sub(ts[0]); gap < 900*time.Millisecond {
			t.Errorf("retried after %s, Retry-After asked for 1s", gap)
		}
	})
	t.Run("rateLimited is not retried", func(t *testing.T) {
		t.Parallel()
		f := newFakeCA(t)
		f.handle("/order", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			writeProblem(w, 429, `{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many orders"}`)
		})
		_, err := f.client(t, nil).NewOrder(t.Context(), testAccount(t, f), OrderRequest{Identifiers: DNSIdentifiers("example.com")})
		var p *Problem
		if !errors.As(err, &p) || p.Type != ProblemRateLimited || p.RetryAfter != time.Hour {
			t.Fatalf("NewOrder: %v (%+v), want rateLimited with RetryAfter 1h", err, p)
		}
		if n := f.count("/order"); n != 1 {
			t.Errorf("newOrder sent %d times, want 1", n)
		}
	})
	t.Run("HTTP-date", func(t *testing.T) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if d := parseRetryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now); d != 90*time.Second {
			t.Errorf("parseRetryAfter(date) = %s", d)
		}
		for _, v := range []string{"", "-5", "soon", now.Add(-time.Hour).Format(http.TimeFormat)} {
			if d := parseRetryAfter(v, now); d != 0 {
				t.Errorf("parseRetryAfter(%q) = %s, want 0", v, d)
			}
		}
	})
}

func TestHostileNonProblemError(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	f.handle("/order", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(502)
		_, _ = io.WriteString(w, "<html><body>Bad   gateway</body></html>")
	})
	_, err := f.client(t, nil).NewOrder(t.Context(), testAccount(t, f), OrderRequest{Identifiers: DNSIdentifiers("example.com")})
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != 502 || he.URL != f.url("/order") {
		t.Fatalf("NewOrder: %v, want *HTTPError 502 for %s", err, f.url("/order"))
	}
	if !strings.Contains(err.Error(), "HTTP 502") || !strings.Contains(err.Error(), "Bad gateway") {
		t.Errorf("message %q", err)
	}
	if n := f.count("/order"); n != 1 {
		t.Errorf("a state-changing POST was sent %d times, want 1", n)
	}
}

func TestHostileReadRetries(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	var n atomic.Int32
	f.handle("/order/1", func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			writeProblem(w, 500, `{"type":"urn:ietf:params:acme:error:serverInternal"}`)
		case 2:
			// A connection reset: close with SO_LINGER 0.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
		default:
			writeJSON(w, 200, orderJSON(f, "ready"))
		}
	})
	o, err := f.client(t, nil).GetOrder(t.Context(), testAccount(t, f), f.url("/order/1"))
	if err != nil {
		t.Fatalf("GetOrder after a 500 and a reset: %v", err)
	}
	if o.Status != StatusReady || n.Load() != 3 {
		t.Fatalf("status %q after %d attempts", o.Status, n.Load())
	}
	if f.log.retries.Load() != 2 {
		t.Errorf("logged %d retries, want 2", f.log.retries.Load())
	}
}

// TestHostileBadNonceUntilDeadline faces a CA that rejects every nonce: the
// client signs again with a fresh nonce at once BadNonceRetries times, then
// keeps trying with growing delays until the request's deadline, and reports
// the badNonce problem wherever the deadline falls (in a wait or in a send).
// The fake proves no nonce was sent twice. The counts are bounds that a
// loaded machine cannot break: slowness only means fewer, later sends.
func TestHostileBadNonceUntilDeadline(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	f.handle("/order", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, 400, `{"type":"urn:ietf:params:acme:error:badNonce","detail":"stale"}`)
	})
	const deadline = 2 * time.Second
	c := f.client(t, func(o *Options) {
		o.BadNonceRetries = 3
		o.RetryBackoff = 40 * time.Millisecond
		o.RequestTimeout = deadline
	})
	start := time.Now()
	_, err := c.NewOrder(t.Context(), testAccount(t, f), OrderRequest{Identifiers: DNSIdentifiers("example.com")})
	if !IsProblem(err, ProblemBadNonce) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("NewOrder: %v, want badNonce at the deadline", err)
	}
	if took := time.Since(start); took < deadline {
		t.Errorf("gave up after %s, before the %s deadline", took, deadline)
	}
	ts := f.times("/order")
	// 1 + 3 at once, then 40, 80, 160, 320, 640 ms apart: at most 5 delayed
	// sends fit in 2 s, and at least one must have happened.
	if len(ts) < 5 || len(ts) > 9 {
		t.Fatalf("sent %d times, want 1 + 3 at once + 1 to 5 delayed", len(ts))
	}
	for i := 5; i < len(ts); i++ {
		if gap, want := ts[i].Sub(ts[i-1]), 40*time.Millisecond<<(i-5); gap < want {
			t.Errorf("retry %d came %s after the previous, want at least %s", i, gap, want)
		}
	}
}

// TestBadNonceDelay pins the schedule: BadNonceRetries at once, then from
// RetryBackoff doubling to one second.
func TestBadNonceDelay(t *testing.T) {
	t.Parallel()
	c, err := New(Options{DirectoryURL: "https://ca.example/dir", BadNonceRetries: 2, RetryBackoff: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 0, 300 * time.Millisecond, 600 * time.Millisecond, time.Second, time.Second}
	for i, w := range want {
		if d := c.badNonceDelay(i + 1); d != w {
			t.Errorf("delay after badNonce %d = %s, want %s", i+1, d, w)
		}
	}
}

// TestRequestDeadline checks that a request from a context without deadline
// still ends: RequestTimeout bounds it with all its retries.
func TestRequestDeadline(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	f.handle("/order/1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		writeProblem(w, 503, `{"type":"urn:ietf:params:acme:error:serverInternal","detail":"busy"}`)
	})
	c := f.client(t, func(o *Options) { o.RequestTimeout = 200 * time.Millisecond; o.MaxRetries = 100 })
	_, err := c.GetOrder(t.Context(), testAccount(t, f), f.url("/order/1"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetOrder against an endless 503: %v, want the request deadline", err)
	}
}

func TestHostileNoNonce(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	c := f.client(t, nil)
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dir" {
			f.handlers["/dir"](w, r)
			return
		}
		w.Header().Set("Replay-Nonce", "bad nonce with spaces")
		w.WriteHeader(200)
	})
	_, err := c.NewOrder(t.Context(), testAccount(t, f), OrderRequest{Identifiers: DNSIdentifiers("example.com")})
	if err == nil || !strings.Contains(err.Error(), "Replay-Nonce") {
		t.Fatalf("NewOrder without usable nonces: %v", err)
	}
}

func TestHostilePolling(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	var n atomic.Int32
	authz := func(status string) map[string]any {
		return map[string]any{"status": status, "identifier": Identifier{"dns", "example.com"},
			"challenges": []map[string]any{{"type": "dns-01", "url": f.url("/chall/1"), "status": status, "token": "tok"}}}
	}
	f.handle("/authz/1", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) < 3 {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, 200, authz("pending"))
			return
		}
		writeJSON(w, 200, authz("valid"))
	})
	f.handle("/authz/stuck", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		writeJSON(w, 200, authz("pending"))
	})
	c := f.client(t, nil)
	acct := testAccount(t, f)
	a, err := c.PollAuthorization(t.Context(), acct, f.url("/authz/1"))
	if err != nil || a.Status != StatusValid {
		t.Fatalf("PollAuthorization = %q, %v", a.Status, err)
	}
	ts := f.times("/authz/1")
	for i := 1; i < len(ts); i++ {
		if gap := ts[i].Sub(ts[i-1]); gap < 900*time.Millisecond {
			t.Errorf("poll %d came %s after the previous, Retry-After asked for 1s", i, gap)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.PollAuthorization(ctx, acct, f.url("/authz/stuck")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PollAuthorization with an expiring context: %v", err)
	}
}

// TestFakeCAVerifies proves the fake's checks can fail: a reused nonce, a
// signature by another key than the kid names, and a url header naming
// another resource are each refused and recorded.
func TestFakeCAVerifies(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	f.handle("/order/1", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, orderJSON(f, "ready")) })
	c := f.client(t, nil)
	acct := testAccount(t, f)
	ctx := t.Context()

	n, err := c.nonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.nonces.push(n)
	c.nonces.push(n)
	for range 2 {
		if _, err := c.GetOrder(ctx, acct, f.url("/order/1")); err != nil {
			t.Fatalf("GetOrder: %v", err) // the reuse is refused as badNonce, then retried
		}
		c.nonces.pop() // the answer's fresh nonce, so that n comes next
	}
	if v := f.takeViolations(); len(v) != 1 || !strings.Contains(v[0], "used before") {
		t.Errorf("after reusing a nonce: violations %q, want one reuse", v)
	}

	forged := Account{Key: mustKey(t, KeyECDSAP256), URL: acct.URL}
	if _, err := c.GetOrder(ctx, forged, f.url("/order/1")); !IsProblem(err, ProblemMalformed) {
		t.Errorf("GetOrder signed by another key: %v, want malformed", err)
	}
	if v := f.takeViolations(); len(v) != 1 || !strings.Contains(v[0], "signature") {
		t.Errorf("after a forged signature: violations %q", v)
	}

	n, err = c.nonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	body, err := signJWS(signingKey{key: acct.Key, kid: acct.URL}, f.url("/order/2"), n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := c.send(ctx, http.MethodPost, f.url("/order/1"), body, ""); err != nil || resp.status != 400 {
		t.Errorf("a JWS for /order/2 sent to /order/1: %v, %+v", err, resp)
	}
	if v := f.takeViolations(); len(v) != 1 || !strings.Contains(v[0], "url header") {
		t.Errorf("after a wrong url header: violations %q", v)
	}
}

// TestRequestShape checks what goes on the wire (RFC 8555 §6.2, §6.3):
// flattened JWS with url and nonce, jwk for newAccount and kid after, an
// empty payload for POST-as-GET, the content type and the User-Agent.
func TestRequestShape(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	type seen struct {
		hdr     jose.Header
		url     string
		nonce   string
		payload string
		ctype   string
		ua      string
	}
	got := make(chan seen, 4)
	record := func(w http.ResponseWriter, r *http.Request) bool {
		b, _ := io.ReadAll(r.Body)
		jws, err := jose.ParseSigned(string(b), []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256})
		if err != nil {
			writeProblem(w, 400, `{"type":"urn:ietf:params:acme:error:malformed","detail":"bad JWS"}`)
			return false
		}
		h := jws.Signatures[0].Protected
		key := h.JSONWebKey
		if key == nil {
			key = &jose.JSONWebKey{Key: &testKey.PublicKey}
		}
		payload, err := jws.Verify(key)
		if err != nil {
			writeProblem(w, 400, `{"type":"urn:ietf:params:acme:error:malformed","detail":"bad signature"}`)
			return false
		}
		got <- seen{hdr: h, url: fmt.Sprint(h.ExtraHeaders["url"]), nonce: h.Nonce, payload: string(payload),
			ctype: r.Header.Get("Content-Type"), ua: r.Header.Get("User-Agent")}
		return true
	}
	f.handle("/acct", func(w http.ResponseWriter, r *http.Request) {
		if record(w, r) {
			f.register(f.url("/acct/1"), testKey.Public())
			w.Header().Set("Location", f.url("/acct/1"))
			writeJSON(w, 201, map[string]any{"status": "valid"})
		}
	})
	f.handle("/order/1", func(w http.ResponseWriter, r *http.Request) {
		if record(w, r) {
			writeJSON(w, 200, orderJSON(f, "pending"))
		}
	})
	c := f.client(t, nil)
	acct, err := c.NewAccount(t.Context(), testKey, NewAccountRequest{TermsOfServiceAgreed: true})
	if err != nil {
		t.Fatal(err)
	}
	s := <-got
	if s.hdr.JSONWebKey == nil || s.hdr.KeyID != "" || s.url != f.url("/acct") || s.nonce == "" ||
		s.hdr.Algorithm != "ES256" || s.ctype != "application/jose+json" || s.ua != "zonecert/test" {
		t.Errorf("newAccount request: %+v", s)
	}
	if !strings.Contains(s.payload, `"termsOfServiceAgreed":true`) {
		t.Errorf("newAccount payload %s", s.payload)
	}
	if _, err := c.GetOrder(t.Context(), acct, f.url("/order/1")); err != nil {
		t.Fatal(err)
	}
	s = <-got
	if s.hdr.JSONWebKey != nil || s.hdr.KeyID != f.url("/acct/1") || s.url != f.url("/order/1") || s.payload != "" {
		t.Errorf("POST-as-GET request: %+v", s)
	}
}

var testKey = func() *ecdsa.PrivateKey {
	k, err := GenerateKey(KeyECDSAP256)
	if err != nil {
		panic(err)
	}
	return k.(*ecdsa.PrivateKey)
}()
