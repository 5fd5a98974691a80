package main

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/sdk"
)

const (
	testZone  = "example.test."
	testToken = "exd_test_0123456789abcdef"
)

func settings(f *fakeAPI, token string) Settings {
	return Settings{Endpoint: f.URL, Token: sdk.Secret(token)}
}

// TestConformanceInProcess runs the kit on the provider directly: the
// fastest loop while writing one.
func TestConformanceInProcess(t *testing.T) {
	f := startFakeAPI(t, testZone, testToken)
	conformance.Run(t, conformance.Config{
		Target: conformance.InProcess("exampledns", func(ctx context.Context) (sdk.Provider, error) {
			return New(ctx, settings(f, testToken))
		}),
		Zone:        testZone,
		Nameservers: []string{f.NS},
		Timeout:     5 * time.Second,
		// The user's own record, made through the API as a user would.
		Foreign: func(_ context.Context, fqdn, value string, ttl uint32) (func(context.Context) error, error) {
			remove := f.foreign(fqdn, value, ttl)
			return func(context.Context) error { remove(); return nil }, nil
		},
	})
	if n := f.count(); n != 0 {
		t.Errorf("%d records left at ExampleDNS after the run", n)
	}
	if f.tooMany() == 0 {
		t.Error("the fake never throttled, so the run proved nothing about 429s")
	}
}

// TestNamesAndPages: records are named relative to the zone ("@" at the
// apex), and a name with more records than a page holds is listed whole,
// so a value on the last page is adopted, not created again.
func TestNamesAndPages(t *testing.T) {
	f := startFakeAPI(t, testZone, testToken)
	p, err := New(t.Context(), settings(f, testToken))
	if err != nil {
		t.Fatal(err)
	}
	var recs []sdk.Record
	for i := range 2*pageSize + 1 {
		recs = append(recs, sdk.Record{ID: strconv.Itoa(i), FQDN: testZone, Zone: testZone, Value: "v" + strconv.Itoa(i), TTL: 60})
	}
	for range 2 {
		for _, r := range recs { // one by one, so every create lists what came before
			if res, err := p.Present(t.Context(), []sdk.Record{r}); err != nil || res[0].Err != nil {
				t.Fatalf("Present %s: %+v, %v", r.Value, res, err)
			}
		}
	}
	if n := f.count(); n != len(recs) {
		t.Fatalf("%d records after presenting %d values twice; want %d", n, len(recs), len(recs))
	}
	f.mu.Lock()
	for _, rec := range f.records {
		if f.relative(rec.Name) != "@" || rec.TTL != 60 {
			t.Errorf("record %+v: want it at the apex (@), TTL 60", rec)
		}
	}
	f.mu.Unlock()
	if res, err := p.CleanUp(t.Context(), recs); err != nil || slices.ContainsFunc(res, func(r sdk.Result) bool { return r.Err != nil }) {
		t.Fatalf("CleanUp without State: %+v, %v", res, err)
	}
	if n := f.count(); n != 0 {
		t.Errorf("%d records left after CleanUp", n)
	}
}

// TestMinimumTTL: a record asked for below ExampleDNS's 30 s minimum (0
// means "your minimum") is created at 30.
func TestMinimumTTL(t *testing.T) {
	f := startFakeAPI(t, testZone, testToken)
	p, err := New(t.Context(), settings(f, testToken))
	if err != nil {
		t.Fatal(err)
	}
	r := sdk.Record{ID: "1", FQDN: "_acme-challenge." + testZone, Zone: testZone, Value: "v"}
	if res, err := p.Present(t.Context(), []sdk.Record{r}); err != nil || res[0].Err != nil {
		t.Fatalf("Present with TTL 0: %+v, %v", res, err)
	}
	if ttl, ok := f.dns.TTL(r.FQDN); !ok || ttl != minTTL {
		t.Errorf("served TTL %d, %v; want %d", ttl, ok, minTTL)
	}
}

func TestNewReportsSettings(t *testing.T) {
	f := startFakeAPI(t, testZone, testToken)
	cases := []struct {
		name    string
		s       Settings
		setting string
	}{
		{"token rejected by the API", settings(f, "wrong"), "token"},
		{"endpoint not a URL", Settings{Endpoint: "api.exampledns.invalid", Token: testToken}, "endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(t.Context(), c.s)
			var se *sdk.SettingsError
			if !errors.As(err, &se) || len(se.Diagnostics) != 1 || se.Diagnostics[0].Setting != c.setting {
				t.Fatalf("New: err = %v; want a settings error about %q", err, c.setting)
			}
		})
	}
}

// TestErrorsAreClassified: each ExampleDNS failure reaches the host with
// the code that tells it what to do: fix the credentials (auth), fix the
// zone (zone-not-found), or wait and retry (rate-limited, retryable).
func TestErrorsAreClassified(t *testing.T) {
	f := startFakeAPI(t, testZone, testToken)
	p, err := New(t.Context(), settings(f, testToken))
	if err != nil {
		t.Fatal(err)
	}
	present := func(rec sdk.Record) *sdk.Error {
		t.Helper()
		res, err := p.Present(t.Context(), []sdk.Record{rec})
		if err != nil || len(res) != 1 || res[0].ID != rec.ID {
			t.Fatalf("Present: got %+v, %v; want one result for %s", res, err, rec.ID)
		}
		return res[0].Err
	}
	want := func(what string, got *sdk.Error, code sdk.Code, retryable bool) {
		t.Helper()
		if got == nil || got.Code != code || got.Retryable != retryable {
			t.Errorf("%s: got %+v; want code %v, retryable %v", what, got, code, retryable)
		}
	}
	rec := sdk.Record{ID: "1", FQDN: "_acme-challenge.other.test.", Zone: "other.test.", Value: "v1"}
	want("unknown zone", present(rec), sdk.CodeZoneNotFound, false)

	// The SDK waits out a RateLimit-Reset a second away itself…
	f.throttleUntil(time.Now().Add(time.Second))
	rec = sdk.Record{ID: "2", FQDN: "_acme-challenge." + testZone, Zone: testZone, Value: "v2"}
	if e := present(rec); e != nil {
		t.Fatalf("Present after one throttled try: %v", e)
	}
	// …and passes a lasting limit to the host, with the wait.
	f.throttleUntil(time.Now().Add(time.Minute))
	rec = sdk.Record{ID: "4", FQDN: "_acme-challenge." + testZone, Zone: testZone, Value: "v4"}
	e := present(rec)
	want("throttled", e, sdk.CodeRateLimited, true)
	if e != nil && (e.RetryAfter < 50*time.Second || e.RetryAfter > 61*time.Second) {
		t.Errorf("throttled: RetryAfter %s; want the minute RateLimit-Reset gave", e.RetryAfter)
	}
	f.throttleUntil(time.Time{})
	if n := f.count(); n != 1 {
		t.Fatalf("%d records after one Present and one throttled one; want 1", n)
	}

	f.mu.Lock()
	f.token = "rotated"
	f.mu.Unlock()
	rec = sdk.Record{ID: "3", FQDN: "_acme-challenge." + testZone, Zone: testZone, Value: "v3"}
	want("revoked token", present(rec), sdk.CodeAuth, false)
}
