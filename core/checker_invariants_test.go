package core

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// ariServer is a directory with renewalInfo that answers every
// certificate with the window [start, end).
func ariServer(t *testing.T, start, end time.Time) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := "https://" + r.Host
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/ari/") {
			w.Header().Set("Retry-After", "3600")
			fmt.Fprintf(w, `{"suggestedWindow":{"start":%q,"end":%q}}`, start.Format(time.RFC3339), end.Format(time.RFC3339))
			return
		}
		fmt.Fprintf(w, `{"newNonce":%q,"newAccount":%q,"newOrder":%q,"revokeCert":%q,"keyChange":%q,"renewalInfo":%q}`,
			u+"/nonce", u+"/acct", u+"/order", u+"/revoke", u+"/key", u+"/ari")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The renewal time drawn is always inside the CA's window, and a cached
// check of another certificate (another CertID) is never used: the CA is
// asked about this one.
func TestCheckerWindowAndCertID(t *testing.T) {
	env := startEngineEnv(t)
	ctx := t.Context()
	env.obtainLineage(t, "window.engine.test")
	now := time.Now().Truncate(time.Second)
	start, end := now.Add(10*24*time.Hour), now.Add(11*24*time.Hour)
	srv := ariServer(t, start, end)
	p, err := LoadPlan(ctx, env.store, "window.engine.test")
	if err != nil {
		t.Fatal(err)
	}
	p.Directory = srv.URL + "/directory"
	c, err := NewChecker(Config{Storage: env.store, HTTPClient: srv.Client(), Now: func() time.Time { return now }}, true)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		p.Check = nil
		d, err := c.Check(ctx, p, false)
		if err != nil {
			t.Fatal(err)
		}
		if d.Due || d.Reason != ReasonNotDue || d.RenewAt.Before(start) || !d.RenewAt.Before(end) {
			t.Fatalf("%+v: renew at %s, want not due and inside [%s, %s)", d, d.RenewAt, start, end)
		}
	}
	// A fresh cached check that says "due now", but of another certificate.
	p.Check = &RenewalCheck{CertID: "another.certificate", Reason: ReasonARI, WindowStart: now.Add(-2 * time.Hour),
		WindowEnd: now.Add(-time.Hour), RenewAt: now.Add(-90 * time.Minute), NextCheck: now.Add(time.Hour)}
	d, err := c.Check(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	if d.Due || d.RenewAt.Before(start) || !d.RenewAt.Before(end) {
		t.Errorf("with another certificate's cached check: %+v, want this certificate's window", d)
	}
}
