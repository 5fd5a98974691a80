package main

import (
	"context"
	"errors"
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
	return Settings{Endpoint: f.URL, Token: sdk.Secret(token), Timeout: 5 * time.Second}
}

// TestConformanceInProcess runs the kit on the provider directly: the
// fastest loop while writing one.
func TestConformanceInProcess(t *testing.T) {
	f := startFakeAPI(t, testZone, testToken)
	conformance.Run(t, conformance.Config{
		Target: conformance.InProcess("exampledns", func(ctx context.Context) (sdk.Provider, error) {
			return New(ctx, settings(f, testToken), nil)
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
		{"endpoint not a URL", Settings{Endpoint: "api.exampledns.invalid", Token: testToken, Timeout: time.Second}, "endpoint"},
		{"zero timeout", Settings{Endpoint: f.URL, Token: testToken}, "timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(t.Context(), c.s, nil)
			var se *sdk.SettingsError
			if !errors.As(err, &se) || len(se.Diagnostics) != 1 || se.Diagnostics[0].Setting != c.setting {
				t.Fatalf("New: err = %v; want a settings error about %q", err, c.setting)
			}
		})
	}
}

// TestErrorsAreClassified: a token revoked after start-up surfaces as
// CodeAuth per record, and an unknown zone as CodeZoneNotFound, so the host
// can tell the user what to fix instead of retrying.
func TestErrorsAreClassified(t *testing.T) {
	f := startFakeAPI(t, testZone, testToken)
	p, err := New(t.Context(), settings(f, testToken), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := sdk.Record{ID: "1", FQDN: "_acme-challenge.other.test.", Zone: "other.test.", Value: "v"}
	res, err := p.Present(t.Context(), []sdk.Record{rec})
	if err != nil || len(res) != 1 || res[0].Err == nil || res[0].Err.Code != sdk.CodeZoneNotFound {
		t.Fatalf("unknown zone: got %+v, %v; want a zone-not-found result", res, err)
	}
	f.mu.Lock()
	f.token = "rotated"
	f.mu.Unlock()
	rec = sdk.Record{ID: "2", FQDN: "_acme-challenge." + testZone, Zone: testZone, Value: "v"}
	res, err = p.Present(t.Context(), []sdk.Record{rec})
	if err != nil || len(res) != 1 || res[0].Err == nil || res[0].Err.Code != sdk.CodeAuth || res[0].Err.Retryable {
		t.Fatalf("revoked token: got %+v, %v; want a non-retryable auth result", res, err)
	}
}
