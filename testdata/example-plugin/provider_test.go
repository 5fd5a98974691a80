package main

import (
	"context"
	"errors"
	"strings"
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
	})
	if n := f.count(); n != 0 {
		t.Errorf("%d records left at ExampleDNS after the run", n)
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

	// The SDK waits out one Retry-After itself…
	f.throttle(1)
	rec = sdk.Record{ID: "2", FQDN: "_acme-challenge." + testZone, Zone: testZone, Value: "v2"}
	if e := present(rec); e != nil {
		t.Fatalf("Present after one throttled try: %v", e)
	}
	// …and passes a lasting limit to the host, Retry-After included.
	f.throttle(3)
	rec = sdk.Record{ID: "4", FQDN: "_acme-challenge." + testZone, Zone: testZone, Value: "v4"}
	e := present(rec)
	want("throttled", e, sdk.CodeRateLimited, true)
	if e != nil && !strings.Contains(e.Message, "retry after 1s") {
		t.Errorf("throttled: message %q does not carry Retry-After", e.Message)
	}
	if n := f.count(); n != 1 {
		t.Fatalf("%d records after one Present and one throttled one; want 1", n)
	}

	f.mu.Lock()
	f.token = "rotated"
	f.mu.Unlock()
	rec = sdk.Record{ID: "3", FQDN: "_acme-challenge." + testZone, Zone: testZone, Value: "v3"}
	want("revoked token", present(rec), sdk.CodeAuth, false)
}
