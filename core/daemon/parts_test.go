package daemon

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/plugin"
)

// recorder is an in-memory provider that keeps what it was given.
type recorder struct {
	mu   sync.Mutex
	recs []string
	fail error
}

func (r *recorder) call(recs []plugin.Record) ([]plugin.Result, error) {
	if r.fail != nil {
		return nil, r.fail
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]plugin.Result, len(recs))
	for i, rec := range recs {
		r.recs = append(r.recs, rec.FQDN)
		out[i] = plugin.Result{ID: rec.ID}
	}
	return out, nil
}

func (r *recorder) Present(_ context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	return r.call(recs)
}

func (r *recorder) CleanUp(_ context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	return r.call(recs)
}

// TestRouter: each record goes to the instance of the longest zone it lies
// in; a record no zone covers, or an instance failing as a whole, gives
// per-record errors and the others still go through.
func TestRouter(t *testing.T) {
	a, b, c := &recorder{}, &recorder{}, &recorder{fail: errors.New("connection refused")}
	r := &router{
		zones:  map[string]string{"example.com": "a", "sub.example.com": "b", "example.net": "c"},
		routes: map[string]plugin.Provider{"a": a, "b": b, "c": c},
	}
	recs := []plugin.Record{
		{ID: "1", FQDN: "_acme-challenge.www.example.com.", Zone: "example.com."},
		{ID: "2", FQDN: "_acme-challenge.x.sub.example.com.", Zone: "sub.example.com."},
		{ID: "3", FQDN: "_acme-challenge.example.org.", Zone: "example.org."},
		{ID: "4", FQDN: "_acme-challenge.example.net.", Zone: "example.net."},
		// A zone not configured whose owner name lies in a configured one.
		{ID: "5", FQDN: "_acme-challenge.y.example.com.", Zone: "y.example.com."},
	}
	res, err := r.Present(t.Context(), recs)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*plugin.Error{}
	for _, x := range res {
		byID[x.ID] = x.Err
	}
	if len(byID) != len(recs) {
		t.Fatalf("results %+v", res)
	}
	if byID["1"] != nil || byID["2"] != nil || byID["5"] != nil {
		t.Errorf("routed records failed: %v %v %v", byID["1"], byID["2"], byID["5"])
	}
	if e := byID["3"]; e == nil || e.Code != plugin.CodeZoneNotFound {
		t.Errorf("uncovered record: %v", e)
	}
	if e := byID["4"]; e == nil || !strings.Contains(e.Message, "connection refused") {
		t.Errorf("failing instance's record: %v", e)
	}
	slices.Sort(a.recs)
	if want := []string{"_acme-challenge.www.example.com.", "_acme-challenge.y.example.com."}; !slices.Equal(a.recs, want) {
		t.Errorf("instance a got %v, want %v", a.recs, want)
	}
	if !slices.Equal(b.recs, []string{"_acme-challenge.x.sub.example.com."}) {
		t.Errorf("instance b got %v", b.recs)
	}
}

// TestCATransport: newOrder requests are one at a time; badNonce and 429
// answers are counted; the ACME client reads bodies unchanged.
func TestCATransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/nonce":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"type":"urn:ietf:params:acme:error:badNonce","detail":"stale"}`)
		case "/limit":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/limit-problem":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down"}`)
		}
	}))
	defer srv.Close()
	m := newMetrics()
	c := &http.Client{Transport: newCATransport(srv.Client().Transport, m)}
	do := func(method, path string) string {
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := do(http.MethodPost, "/nonce"); !strings.Contains(body, "badNonce") {
		t.Errorf("problem body changed: %q", body)
	}
	do(http.MethodPost, "/limit")
	if body := do(http.MethodPost, "/limit-problem"); !strings.Contains(body, "slow down") {
		t.Errorf("problem body changed: %q", body)
	}
	if v := testutil.ToFloat64(m.badNonce); v != 1 {
		t.Errorf("badNonce count %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.rateLimited); v != 2 {
		t.Errorf("rate-limit count %v, want 2", v)
	}
}

// limited declares capabilities, as a host client does.
type limited struct {
	recorder
	caps plugin.Capabilities
}

func (l *limited) Capabilities() plugin.Capabilities { return l.caps }

// TestRouterCapabilities: an order over several instances is planned for
// the most limited one.
func TestRouterCapabilities(t *testing.T) {
	r := &router{routes: map[string]plugin.Provider{
		"a": &limited{caps: plugin.Capabilities{MaxValuesPerName: 2, Sync: true}},
		"b": &limited{caps: plugin.Capabilities{MaxValuesPerName: 1, NoDelete: true}},
		"c": &recorder{},
	}}
	got := plugin.CapabilitiesOf(r)
	want := plugin.Capabilities{MaxValuesPerName: 1, Sync: true, NoDelete: true}
	if got != want {
		t.Errorf("capabilities %+v, want %+v", got, want)
	}
}

// TestBackoff: retry_min doubled per consecutive failure, capped at
// retry_max, each within ±10 %.
func TestBackoff(t *testing.T) {
	d := &Daemon{failures: map[string]int{}}
	g := &generation{cfg: &config.Config{Daemon: config.Daemon{RetryMin: time.Minute, RetryMax: 10 * time.Minute}}}
	now := time.Now()
	for i, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		want *= time.Minute
		got := d.backoff(g, "x", now).Sub(now)
		if got < want*9/10 || got > want*11/10 {
			t.Errorf("failure %d: wait %v, want %v ±10%%", i+1, got, want)
		}
	}
}

// TestGate: a rate-limited account is blocked until the later of the
// times it was told, per account.
func TestGate(t *testing.T) {
	var g gate
	now := time.Now()
	a, b := accountKey("https://ca/dir", "A@example.com"), accountKey("https://ca/dir", "b@example.com")
	g.block(a, now.Add(time.Hour))
	g.block(a, now.Add(time.Minute)) // an earlier time does not shorten it
	if got := g.blockedUntil(accountKey("https://ca/dir", "a@example.com")); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("blocked until %v, want an hour", got)
	}
	if got := g.blockedUntil(b); !got.IsZero() {
		t.Errorf("another account is blocked until %v", got)
	}
}
