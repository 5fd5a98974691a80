package acme

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// countingHandler counts log records by message, to observe retries.
type countingHandler struct {
	badNonce atomic.Int64
	retries  atomic.Int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	switch r.Message {
	case "acme: retrying after badNonce":
		h.badNonce.Add(1)
	case "the CA did not answer; retrying":
		// Reported to the user (INFO), with when the next attempt goes.
		next := false
		r.Attrs(func(a slog.Attr) bool {
			next = next || (a.Key == "next_attempt" && a.Value.Kind() == slog.KindTime)
			return true
		})
		if r.Level == slog.LevelInfo && next {
			h.retries.Add(1)
		}
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// env is one Pebble with the DNS server its VA asks.
type env struct {
	pebble *testenv.Pebble
	dns    *testDNS
	log    *countingHandler
	client *Client
}

func startEnv(t *testing.T, opts testenv.PebbleOptions) *env {
	t.Helper()
	d := startTestDNS(t)
	opts.DNSServer = d.Addr
	p := testenv.StartPebble(t, opts)
	h := &countingHandler{}
	return &env{pebble: p, dns: d, log: h, client: newPebbleClient(t, p, slog.New(h))}
}

func newPebbleClient(t testing.TB, p *testenv.Pebble, log *slog.Logger) *Client {
	t.Helper()
	c, err := New(Options{
		DirectoryURL: p.DirectoryURL,
		HTTPClient:   p.HTTPClient,
		Version:      "test",
		Logger:       log,
		// Pebble rejects half the nonces; the client's defaults retry them
		// until each request's deadline.
		PollInterval: 100 * time.Millisecond,
		RetryBackoff: 50 * time.Millisecond,
		MaxBackoff:   2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustKey(t testing.TB, kt KeyType) crypto.Signer {
	t.Helper()
	k, err := GenerateKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newAccount registers a fresh account with the given key type.
func (e *env) newAccount(t *testing.T, kt KeyType) Account {
	t.Helper()
	acct, err := e.client.NewAccount(t.Context(), mustKey(t, kt), NewAccountRequest{
		Contact: []string{"mailto:test@example.com"}, TermsOfServiceAgreed: true,
	})
	if err != nil {
		t.Fatalf("NewAccount: %v", err)
	}
	return acct
}

// randomDomain returns a fresh domain under example.test.
func randomDomain(t testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b) + ".example.test"
}

// solve publishes dns-01 answers for every pending authorization of the
// order, then responds to the challenges. Every record goes out before the
// first challenge is accepted: a wildcard and its apex share one name. The
// records are removed at the end of the test.
func (e *env) solve(t *testing.T, acct Account, o Order) {
	t.Helper()
	ctx := t.Context()
	var challenges []string
	for _, u := range o.Authorizations {
		a, err := e.client.GetAuthorization(ctx, acct, u)
		if err != nil {
			t.Fatalf("GetAuthorization: %v", err)
		}
		if a.Status == StatusValid {
			continue
		}
		ch, ok := a.Challenge(ChallengeDNS01)
		if !ok {
			t.Fatalf("authorization %s offers no dns-01: %+v", u, a.Challenges)
		}
		ka, err := KeyAuthorization(acct.Key, ch.Token)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.dns.add("_acme-challenge."+a.Identifier.Value, DNS01Value(ka)))
		challenges = append(challenges, ch.URL)
	}
	for _, u := range challenges {
		if _, err := e.client.AcceptChallenge(ctx, acct, u); err != nil {
			t.Fatalf("AcceptChallenge: %v", err)
		}
	}
}

// issue runs a whole order for names and returns it with its chains and the
// certificate key.
func (e *env) issue(t *testing.T, acct Account, req OrderRequest, kt KeyType) (Order, []Certificate, crypto.Signer) {
	t.Helper()
	ctx := t.Context()
	o, err := e.client.NewOrder(ctx, acct, req)
	if err != nil {
		t.Fatalf("NewOrder: %v", err)
	}
	e.solve(t, acct, o)
	for _, u := range o.Authorizations {
		if _, err := e.client.PollAuthorization(ctx, acct, u); err != nil {
			t.Fatalf("PollAuthorization: %v", err)
		}
	}
	if o, err = e.client.PollOrder(ctx, acct, o.URL); err != nil {
		t.Fatalf("PollOrder: %v", err)
	}
	if o.Status != StatusReady {
		t.Fatalf("order status %q, want ready", o.Status)
	}
	key := mustKey(t, kt)
	csr, err := CreateCSR(key, req.Identifiers)
	if err != nil {
		t.Fatal(err)
	}
	if o, err = e.client.FinalizeOrder(ctx, acct, o, csr); err != nil {
		t.Fatalf("FinalizeOrder: %v", err)
	}
	chains, err := e.client.GetCertificateChains(ctx, acct, o.Certificate)
	if err != nil {
		t.Fatalf("GetCertificateChains: %v", err)
	}
	return o, chains, key
}
