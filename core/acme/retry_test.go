package acme

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestHostileBadNonceRecovers rejects the first two attempts of a newOrder
// with badNonce: the client must sign again with a nonce it has not used
// and succeed on the third (RFC 8555 §6.5).
func TestHostileBadNonceRecovers(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	var mu sync.Mutex
	var nonces []string
	f.handle("/order", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		jws, err := jose.ParseSigned(string(b), []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			writeProblem(w, 400, `{"type":"urn:ietf:params:acme:error:malformed"}`)
			return
		}
		mu.Lock()
		nonces = append(nonces, jws.Signatures[0].Protected.Nonce)
		n := len(nonces)
		mu.Unlock()
		if n <= 2 {
			writeProblem(w, 400, `{"type":"urn:ietf:params:acme:error:badNonce","detail":"stale"}`)
			return
		}
		w.Header().Set("Location", f.url("/order/1"))
		writeJSON(w, 201, orderJSON(f, "pending"))
	})
	c := f.client(t, nil)
	o, err := c.NewOrder(t.Context(), testAccount(t, f), OrderRequest{Identifiers: DNSIdentifiers("example.com")})
	if err != nil {
		t.Fatalf("NewOrder after two badNonce: %v", err)
	}
	if o.URL != f.url("/order/1") {
		t.Errorf("order URL %q", o.URL)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(nonces) != 3 {
		t.Fatalf("newOrder sent %d times, want 3", len(nonces))
	}
	if slices.Contains(nonces, "") || len(slices.Compact(slices.Sorted(slices.Values(nonces)))) != 3 {
		t.Errorf("nonces %q: want three distinct ones", nonces)
	}
	if n := f.log.badNonce.Load(); n != 2 {
		t.Errorf("logged %d badNonce retries, want 2", n)
	}
}

// TestHostilePollBackoff polls an order that stays processing without
// Retry-After: the gaps between polls must grow from PollInterval.
func TestHostilePollBackoff(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	f.handle("/order/1", func(w http.ResponseWriter, r *http.Request) {
		if f.count("/order/1") < 5 {
			writeJSON(w, 200, orderJSON(f, StatusProcessing))
			return
		}
		writeJSON(w, 200, orderJSON(f, StatusValid))
	})
	const interval = 20 * time.Millisecond
	c := f.client(t, func(o *Options) { o.PollInterval = interval })
	o, err := c.PollOrder(t.Context(), testAccount(t, f), f.url("/order/1"))
	if err != nil || o.Status != StatusValid {
		t.Fatalf("PollOrder = %q, %v", o.Status, err)
	}
	ts := f.times("/order/1")
	if len(ts) != 5 {
		t.Fatalf("polled %d times, want 5", len(ts))
	}
	for i := 1; i < len(ts); i++ {
		if want := interval << (i - 1); ts[i].Sub(ts[i-1]) < want {
			t.Errorf("poll %d came %s after the previous, want at least %s", i, ts[i].Sub(ts[i-1]), want)
		}
	}
}

// TestDirectoryMeta decodes the RFC 8555 §7.1.1 example directory.
func TestDirectoryMeta(t *testing.T) {
	t.Parallel()
	d, err := decodeDirectory(mustRead(t, "testdata/directory-rfc8555.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := d.Meta
	if m.TermsOfService != "https://example.com/acme/terms/2017-5-30" || m.Website != "https://www.example.com/" ||
		!slices.Equal(m.CAAIdentities, []string{"example.com"}) || m.ExternalAccountRequired {
		t.Errorf("meta = %+v", m)
	}
	if d.NewAuthz == "" || d.RenewalInfo != "" {
		t.Errorf("newAuthz %q renewalInfo %q", d.NewAuthz, d.RenewalInfo)
	}
	p, err := decodeDirectory(mustRead(t, "testdata/directory-pebble.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p.RenewalInfo, "/renewalInfo") || len(p.Meta.Profiles) != 2 {
		t.Errorf("pebble directory renewalInfo %q profiles %v", p.RenewalInfo, p.Meta.Profiles)
	}
}

// TestHostileRateLimitedRead answers a POST-as-GET with rateLimited and a
// short Retry-After: a read is safe to resend, so the client waits and
// retries; without Retry-After it gives up at once.
func TestHostileRateLimitedRead(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	limited := func(retryAfter string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if f.count(r.URL.Path) == 1 {
				if retryAfter != "" {
					w.Header().Set("Retry-After", retryAfter)
				}
				writeProblem(w, 429, `{"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down"}`)
				return
			}
			writeJSON(w, 200, orderJSON(f, StatusReady))
		}
	}
	f.handle("/order/1", limited("1"))
	f.handle("/order/2", limited(""))
	c := f.client(t, nil)
	acct := testAccount(t, f)
	if _, err := c.GetOrder(t.Context(), acct, f.url("/order/1")); err != nil {
		t.Fatalf("GetOrder after a 429 with Retry-After 1: %v", err)
	}
	ts := f.times("/order/1")
	if len(ts) != 2 || ts[1].Sub(ts[0]) < 900*time.Millisecond {
		t.Errorf("order fetched at %v, want twice, 1s apart", ts)
	}
	_, err := c.GetOrder(t.Context(), acct, f.url("/order/2"))
	if !IsProblem(err, ProblemRateLimited) || f.count("/order/2") != 1 {
		t.Errorf("GetOrder after a 429 without Retry-After: %v after %d requests, want rateLimited after 1", err, f.count("/order/2"))
	}
}

// TestHostileRenewalInfoRetryAfter checks that the renewalInfo Retry-After
// is reported and kept within one minute and one day (RFC 9773 §4.3).
func TestHostileRenewalInfoRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFakeCA(t)
	window := mustRead(t, "testdata/renewalinfo-window.json")
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"", DefaultARIRetryAfter},
		{"7200", 2 * time.Hour},
		{"5", time.Minute},
		{time.Now().Add(72 * time.Hour).UTC().Format(http.TimeFormat), 24 * time.Hour},
	} {
		id := "aki.serial" + strconv.Itoa(len(tc.header))
		f.handle("/ari/"+id, func(w http.ResponseWriter, r *http.Request) {
			if tc.header != "" {
				w.Header().Set("Retry-After", tc.header)
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(window)
		})
		ri, err := f.client(t, nil).GetRenewalInfo(t.Context(), id)
		if err != nil {
			t.Fatalf("Retry-After %q: %v", tc.header, err)
		}
		if ri.RetryAfter != tc.want {
			t.Errorf("Retry-After %q: RetryAfter = %s, want %s", tc.header, ri.RetryAfter, tc.want)
		}
		if want := time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC); !ri.SuggestedWindow.Start.Equal(want) {
			t.Errorf("window start %s, want %s", ri.SuggestedWindow.Start, want)
		}
	}
}
