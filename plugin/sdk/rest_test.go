package sdk

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		err       error
		code      Code
		retryable bool
	}{
		{&HTTPError{Status: 401}, CodeAuth, false},
		{&HTTPError{Status: 403}, CodeAuth, false},
		{&HTTPError{Status: 404}, CodeZoneNotFound, false},
		{&HTTPError{Status: 409}, CodeConflict, false},
		{&HTTPError{Status: 429, RetryAfter: 3 * time.Second}, CodeRateLimited, true},
		{&HTTPError{Status: 400}, CodeOther, false},
		{&HTTPError{Status: 502}, CodeOther, true},
		{context.Canceled, CodeOther, false},
		{errors.New("connection refused"), CodeOther, true},
		{&Error{Code: CodeConflict, Message: "as given"}, CodeConflict, false},
	}
	for _, tt := range tests {
		e := Classify(tt.err)
		if e.Code != tt.code || e.Retryable != tt.retryable {
			t.Errorf("Classify(%v) = %+v; want %v retryable=%v", tt.err, e, tt.code, tt.retryable)
		}
	}
	if e := Classify(&HTTPError{Status: 429, RetryAfter: 3 * time.Second}); !strings.Contains(e.Message, "retry after 3s") || e.RetryAfter != 3*time.Second {
		t.Errorf("429 %q (RetryAfter %v) lacks Retry-After", e.Message, e.RetryAfter)
	}
	if e := Classify(&HTTPError{Status: 503, RetryAfter: 7 * time.Second}); !e.Retryable || e.RetryAfter != 7*time.Second {
		t.Errorf("503 with Retry-After: %+v", e)
	}
	if Classify(nil) != nil {
		t.Error("Classify(nil) != nil")
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second,
	} {
		if got := ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

// api is a RecordAPI over a test server, counting requests in flight.
type api struct {
	JSONAPI
	inflight, peak atomic.Int32
}

func (a *api) CreateTXT(ctx context.Context, r Record) (string, error) {
	n := a.inflight.Add(1)
	defer a.inflight.Add(-1)
	for p := a.peak.Load(); n > p && !a.peak.CompareAndSwap(p, n); p = a.peak.Load() {
	}
	var out struct{ ID string }
	err := a.Do(ctx, http.MethodPost, "/create?v="+r.Value, nil, &out)
	return out.ID, err
}

func (a *api) DeleteTXT(ctx context.Context, r Record, id string) error {
	return a.Do(ctx, http.MethodDelete, "/delete/"+id, nil, nil)
}

func TestRESTBoundsRetriesAndStates(t *testing.T) {
	var mu sync.Mutex
	throttled := map[string]bool{}
	release := make(chan struct{})
	var arrived atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			v := r.URL.Query().Get("v")
			mu.Lock()
			first := !throttled[v]
			throttled[v] = true
			mu.Unlock()
			if v == "slow" {
				// Hold the first two until both are in: three slow
				// requests press on the bound of two.
				if arrived.Add(1) == 2 {
					close(release)
				}
				<-release
			}
			if first && v == "throttled" {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			if v == "denied" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			_, _ = w.Write([]byte(`{"id":"id-` + v + `"}`))
		case strings.HasPrefix(r.URL.Path, "/delete/gone"):
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	a := &api{JSONAPI: JSONAPI{Base: srv.URL}}
	p := NewREST(a, RESTOptions{Concurrency: 2})
	rec := func(id, v string) Record {
		return Record{ID: id, FQDN: "_acme-challenge.example.test.", Zone: "example.test.", Value: v}
	}
	res, err := p.Present(t.Context(), []Record{rec("1", "slow"), rec("2", "slow"), rec("3", "slow"), rec("4", "throttled"),
		rec("5", "denied"), {ID: "6", FQDN: "x.other.test.", Zone: "example.test.", Value: "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if peak := a.peak.Load(); peak > 2 {
		t.Errorf("%d requests in flight; the bound is 2", peak)
	}
	if string(res[0].State) != "id-slow" || res[3].Err != nil || string(res[3].State) != "id-throttled" {
		t.Errorf("results %+v", res)
	}
	if res[4].Err == nil || res[4].Err.Code != CodeAuth || res[5].Err == nil || res[5].Err.Code != CodeZoneNotFound {
		t.Errorf("errors: %+v, %+v", res[4].Err, res[5].Err)
	}
	res, err = p.CleanUp(t.Context(), []Record{
		{ID: "a", FQDN: "_acme-challenge.example.test.", Zone: "example.test.", Value: "v", State: []byte("gone")},
		{ID: "b", FQDN: "_acme-challenge.example.test.", Zone: "example.test.", Value: "v"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Errorf("deleting a record already gone: %v", res[0].Err)
	}
	if res[1].Err == nil || !strings.Contains(res[1].Err.Message, "cannot look records up") {
		t.Errorf("CleanUp without State or TXTFinder: %v", res[1].Err)
	}
}

func TestRetryAfterOf(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"Retry-After wins", http.Header{"Retry-After": {"7"}, "Ratelimit-Reset": {"30"}}, 7 * time.Second},
		{"RateLimit-Reset seconds", http.Header{"Ratelimit-Reset": {"30"}}, 30 * time.Second},
		{"RateLimit-Reset Unix time", http.Header{"Ratelimit-Reset": {"1800000045"}}, 45 * time.Second},
		{"X-RateLimit-Reset Unix time", http.Header{"X-Ratelimit-Reset": {"1800000012"}}, 12 * time.Second},
		{"a Unix time past", http.Header{"X-Ratelimit-Reset": {"1799999990"}}, 0},
		{"garbage", http.Header{"Ratelimit-Reset": {"soon"}}, 0},
		{"none", http.Header{}, 0},
	}
	for _, tt := range tests {
		if got := RetryAfterOf(tt.h, now); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestHTTPErrorCarriesHeaders: a 429 with only X-RateLimit-Reset gives the
// wait, and the headers travel with the error.
func TestHTTPErrorCarriesHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Reset", "3")
		w.Header().Set("X-Request-Id", "abc")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	err := (&JSONAPI{Base: srv.URL}).Do(t.Context(), http.MethodGet, "/x", nil, nil)
	var he *HTTPError
	if !errors.As(err, &he) || he.Header.Get("X-Request-Id") != "abc" || he.RetryAfter != 3*time.Second {
		t.Fatalf("error %#v", err)
	}
	if e := Classify(err); e.Code != CodeRateLimited || e.RetryAfter != 3*time.Second {
		t.Fatalf("classified %+v", e)
	}
}

// ttlAPI records the TTL each create asks for; the name has a set at 300.
type ttlAPI struct {
	mu   sync.Mutex
	ttls []uint32
	has  bool
}

func (a *ttlAPI) CreateTXT(_ context.Context, r Record) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ttls = append(a.ttls, r.TTL)
	return "id", nil
}

func (a *ttlAPI) DeleteTXT(context.Context, Record, string) error { return nil }

func (a *ttlAPI) ExistingTTL(context.Context, Record) (uint32, bool, error) { return 300, a.has, nil }

// TestRESTKeepsTheExistingTTL: with a TTLFinder a value joins the name's
// set at its TTL; without a set there, the record's own TTL is used.
func TestRESTKeepsTheExistingTTL(t *testing.T) {
	for _, has := range []bool{true, false} {
		a := &ttlAPI{has: has}
		p := NewREST(a, RESTOptions{})
		res, err := p.Present(t.Context(), []Record{{ID: "1", FQDN: "_acme-challenge.example.test.", Zone: "example.test.", Value: "v", TTL: 60}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
		want := uint32(60)
		if has {
			want = 300
		}
		if len(a.ttls) != 1 || a.ttls[0] != want {
			t.Errorf("existing set %v: created with TTL %v, want %d", has, a.ttls, want)
		}
	}
}

// listAPI is an API that stores duplicates and keeps a TTL per record,
// with only a lister to find them.
type listAPI struct {
	mu      sync.Mutex
	next    int
	recs    []TXT
	creates int
}

func (a *listAPI) CreateTXT(_ context.Context, r Record) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next++
	a.creates++
	id := strconv.Itoa(a.next)
	a.recs = append(a.recs, TXT{ID: id, Value: r.Value, TTL: r.TTL})
	return id, nil
}

func (a *listAPI) DeleteTXT(_ context.Context, _ Record, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = slices.DeleteFunc(a.recs, func(x TXT) bool { return x.ID == id })
	return nil
}

func (a *listAPI) ListTXT(context.Context, Record) ([]TXT, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.recs), nil
}

// TestRESTWithLister: a lister alone makes Present adopt a value already
// there, create beside a set at the set's TTL, and CleanUp without State
// find the record by value.
func TestRESTWithLister(t *testing.T) {
	a := &listAPI{recs: []TXT{{ID: "user", Value: "theirs", TTL: 300}}, next: 100}
	p := NewREST(a, RESTOptions{})
	rec := Record{ID: "1", FQDN: "_acme-challenge.example.test.", Zone: "example.test.", Value: "ours", TTL: 60}
	for range 2 {
		if res, err := p.Present(t.Context(), []Record{rec}); err != nil || res[0].Err != nil || string(res[0].State) != "101" {
			t.Fatalf("Present: %+v, %v; want state 101", res, err)
		}
	}
	if a.creates != 1 || len(a.recs) != 2 || a.recs[1].TTL != 300 {
		t.Fatalf("after presenting one value twice: %d creates, records %+v; want one create at the set's TTL 300", a.creates, a.recs)
	}
	if res, err := p.CleanUp(t.Context(), []Record{rec}); err != nil || res[0].Err != nil {
		t.Fatalf("CleanUp without State: %+v, %v", res, err)
	}
	if len(a.recs) != 1 || a.recs[0].ID != "user" {
		t.Errorf("after CleanUp: %+v; want only the user's record", a.recs)
	}
	// Alone at its name, a record keeps its own TTL.
	rec.FQDN, a.recs = "_acme-challenge.www.example.test.", nil
	if res, err := p.Present(t.Context(), []Record{rec}); err != nil || res[0].Err != nil || a.recs[0].TTL != 60 {
		t.Errorf("Present at an empty name: %+v, %v, records %+v; want TTL 60", res, err, a.recs)
	}
}

func TestRelativeName(t *testing.T) {
	for _, c := range [][3]string{
		{"example.test.", "example.test.", "@"},
		{"Example.Test.", "example.test.", "@"},
		{"_acme-challenge.example.test.", "example.test.", "_acme-challenge"},
		{"_acme-challenge.www.example.test.", "example.test.", "_acme-challenge.www"},
		{"a.b.", ".", "a.b"},
		{"other.test.", "example.test.", "other.test."},
	} {
		if got := RelativeName(c[0], c[1]); got != c[2] {
			t.Errorf("RelativeName(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// TestCheckAuthWaitsOutThrottling: a start-up that meets a 503 or a 429
// tries again instead of failing; a 401 is still the setting's fault.
func TestCheckAuthWaitsOutThrottling(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("RateLimit-Reset", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		case 3:
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	c := &JSONAPI{Base: srv.URL}
	if err := c.CheckAuth(t.Context(), "/zones", "token"); err != nil || calls.Load() != 3 {
		t.Fatalf("CheckAuth after a 503 and a 429: %v after %d requests; want success on the third", err, calls.Load())
	}
	var se *SettingsError
	if err := c.CheckAuth(t.Context(), "/zones", "token"); !errors.As(err, &se) || calls.Load() != 4 {
		t.Errorf("CheckAuth on a 401: %v after %d requests; want one request and a settings error", err, calls.Load())
	}
}
