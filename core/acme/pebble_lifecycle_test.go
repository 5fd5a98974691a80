package acme

import (
	"encoding/pem"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

func TestPebbleARIReplaces(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testenv.PebbleOptions{})
	ctx := t.Context()
	acct := e.newAccount(t, KeyECDSAP256)
	d := randomDomain(t)
	_, chains, _ := e.issue(t, acct, OrderRequest{Identifiers: DNSIdentifiers(d)}, KeyECDSAP256)
	leaf := chains[0].Leaf()
	id, err := ARICertID(leaf)
	if err != nil {
		t.Fatal(err)
	}
	ri, err := e.client.GetRenewalInfo(ctx, id)
	if err != nil {
		t.Fatalf("GetRenewalInfo: %v", err)
	}
	w := ri.SuggestedWindow
	if w.Start.Before(leaf.NotBefore.Add(-time.Second)) || w.End.After(leaf.NotAfter.Add(time.Second)) || !w.End.After(w.Start) {
		t.Errorf("window %s–%s outside the certificate's validity %s–%s", w.Start, w.End, leaf.NotBefore, leaf.NotAfter)
	}
	if ri.RetryAfter != 6*time.Hour {
		t.Errorf("RetryAfter = %s, want Pebble's 6h", ri.RetryAfter)
	}
	if rt := w.RandomTime(); rt.Before(w.Start) || rt.After(w.End) {
		t.Errorf("RandomTime %s outside the window", rt)
	}

	// The renewal order names the certificate it replaces (RFC 9773 §5).
	o, _, _ := e.issue(t, acct, OrderRequest{Identifiers: DNSIdentifiers(d), Replaces: id}, KeyECDSAP256)
	if o.Replaces != id {
		t.Errorf("order replaces = %q, want %q", o.Replaces, id)
	}
	// Once replaced, a second replacement is refused.
	_, err = e.client.NewOrder(ctx, acct, OrderRequest{Identifiers: DNSIdentifiers(d), Replaces: id})
	if !IsProblem(err, ProblemAlreadyReplaced) {
		t.Fatalf("second replacement: %v, want alreadyReplaced", err)
	}

	// A CA answer that is not a renewalInfo object is an error, not a window.
	if err := e.pebble.SetRenewalInfo(ctx, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}),
		`{"suggestedWindow":{"start":"2030-01-02T00:00:00Z","end":"2030-01-01T00:00:00Z"}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetRenewalInfo(ctx, id); err == nil {
		t.Fatal("GetRenewalInfo accepted a window that ends before it starts")
	}
}

func TestPebbleAlternateChains(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testenv.PebbleOptions{AlternateRoots: 2})
	ctx := t.Context()
	roots, err := e.pebble.Roots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acct := e.newAccount(t, KeyECDSAP256)
	_, chains, _ := e.issue(t, acct, OrderRequest{Identifiers: DNSIdentifiers(randomDomain(t))}, KeyECDSAP256)
	if len(chains) != 3 {
		t.Fatalf("got %d chains, want 3 (default + 2 alternates)", len(chains))
	}
	seen := map[string]bool{}
	for _, ch := range chains {
		root := verifyChain(t, roots, ch)
		if seen[root.Subject.CommonName] {
			t.Errorf("two chains lead to root %q", root.Subject.CommonName)
		}
		seen[root.Subject.CommonName] = true
		if ch.IssuerCN() != root.Subject.CommonName {
			t.Errorf("IssuerCN %q, but the chain leads to %q", ch.IssuerCN(), root.Subject.CommonName)
		}
	}
	want := chains[2].IssuerCN()
	got, ok := PreferredChain(chains, want)
	if !ok || got.URL != chains[2].URL {
		t.Errorf("PreferredChain(%q) = %s, %v; want %s", want, got.URL, ok, chains[2].URL)
	}
	if got, ok := PreferredChain(chains, "No Such Root"); ok || got.URL != chains[0].URL {
		t.Errorf("PreferredChain(unknown) = %s, %v; want the default chain", got.URL, ok)
	}
}

func TestPebbleRevocation(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testenv.PebbleOptions{})
	for _, byCertKey := range []bool{false, true} {
		name := map[bool]string{false: "account key", true: "certificate key"}[byCertKey]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			acct := e.newAccount(t, KeyECDSAP256)
			_, chains, certKey := e.issue(t, acct, OrderRequest{Identifiers: DNSIdentifiers(randomDomain(t))}, KeyECDSAP384)
			der := chains[0].Leaf().Raw
			reason := ReasonSuperseded
			if byCertKey {
				reason = ReasonKeyCompromise
			}
			revoke := func() error {
				if byCertKey {
					return e.client.RevokeCertificateWithKey(ctx, certKey, der, reason)
				}
				return e.client.RevokeCertificate(ctx, acct, der, reason)
			}
			if !byCertKey {
				// Another account has no right to revoke it.
				other := e.newAccount(t, KeyECDSAP256)
				if err := e.client.RevokeCertificate(ctx, other, der, ReasonSuperseded); !IsProblem(err, ProblemUnauthorized) {
					t.Fatalf("revocation by a stranger: %v, want unauthorized", err)
				}
			}
			if err := revoke(); err != nil {
				t.Fatalf("revoking: %v", err)
			}
			st, err := e.pebble.CertStatus(ctx, chains[0].Leaf().SerialNumber)
			if err != nil {
				t.Fatal(err)
			}
			got := -1
			if st.Reason != nil {
				got = *st.Reason
			}
			if st.Status != "Revoked" || RevocationReason(got) != reason {
				t.Errorf("Pebble records status %q reason %d, want Revoked with reason %d", st.Status, got, reason)
			}
			if err := revoke(); !IsProblem(err, ProblemAlreadyRevoked) {
				t.Fatalf("second revocation: %v, want alreadyRevoked", err)
			}
			// ARI asks for immediate renewal of a revoked certificate.
			id, err := ARICertID(chains[0].Leaf())
			if err != nil {
				t.Fatal(err)
			}
			ri, err := e.client.GetRenewalInfo(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if ri.SuggestedWindow.Start.After(time.Now().Add(time.Minute)) {
				t.Errorf("revoked certificate's window starts %s, want now", ri.SuggestedWindow.Start)
			}
		})
	}
}

func TestPebbleFailedOrders(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testenv.PebbleOptions{})
	t.Run("deactivate pending", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		acct := e.newAccount(t, KeyECDSAP256)
		d := randomDomain(t)
		o, err := e.client.NewOrder(ctx, acct, OrderRequest{Identifiers: DNSIdentifiers(d, "www."+d)})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.client.DeactivatePendingAuthorizations(ctx, acct, o); err != nil {
			t.Fatalf("DeactivatePendingAuthorizations: %v", err)
		}
		for _, u := range o.Authorizations {
			a, err := e.client.GetAuthorization(ctx, acct, u)
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != StatusDeactivated {
				t.Errorf("authorization %s is %q, want deactivated", a.Identifier.Value, a.Status)
			}
		}
		if _, err := e.client.PollOrder(ctx, acct, o.URL); !errors.Is(err, ErrOrderInvalid) {
			t.Fatalf("PollOrder after deactivation: %v, want ErrOrderInvalid", err)
		}
	})
	t.Run("challenge without record", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		acct := e.newAccount(t, KeyECDSAP256)
		o, err := e.client.NewOrder(ctx, acct, OrderRequest{Identifiers: DNSIdentifiers(randomDomain(t))})
		if err != nil {
			t.Fatal(err)
		}
		a, err := e.client.GetAuthorization(ctx, acct, o.Authorizations[0])
		if err != nil {
			t.Fatal(err)
		}
		ch, _ := a.Challenge(ChallengeDNS01)
		if _, err := e.client.AcceptChallenge(ctx, acct, ch.URL); err != nil {
			t.Fatal(err)
		}
		_, err = e.client.PollAuthorization(ctx, acct, a.URL)
		var p *Problem
		if !errors.Is(err, ErrAuthorizationInvalid) || !errors.As(err, &p) {
			t.Fatalf("PollAuthorization: %v, want ErrAuthorizationInvalid with a problem", err)
		}
		if p.Type != ProblemUnauthorized && p.Type != ProblemDNS && p.Type != ProblemIncorrectResponse {
			t.Errorf("challenge problem type %q", p.Type)
		}
		if _, err := e.client.PollOrder(ctx, acct, o.URL); !errors.Is(err, ErrOrderInvalid) {
			t.Fatalf("PollOrder: %v, want ErrOrderInvalid", err)
		}
	})
	t.Run("finalize before ready", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		acct := e.newAccount(t, KeyECDSAP256)
		ids := DNSIdentifiers(randomDomain(t))
		o, err := e.client.NewOrder(ctx, acct, OrderRequest{Identifiers: ids})
		if err != nil {
			t.Fatal(err)
		}
		csr, err := CreateCSR(mustKey(t, KeyECDSAP256), ids)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.FinalizeOrder(ctx, acct, o, csr); !IsProblem(err, ProblemOrderNotReady) {
			t.Fatalf("FinalizeOrder on a pending order: %v, want orderNotReady", err)
		}
	})
}

// TestPebbleBadNonceConcurrent shares one client among many goroutines
// while Pebble rejects half of all nonces: every request must still succeed,
// and the client must have recovered from badNonce rejections.
func TestPebbleBadNonceConcurrent(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testenv.PebbleOptions{NonceReject: 50})
	acct := e.newAccount(t, KeyECDSAP256)
	var wg sync.WaitGroup
	errs := make(chan error, 16*5)
	for range 16 {
		wg.Go(func() {
			for range 5 {
				if _, err := e.client.GetAccount(t.Context(), acct); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.log.badNonce.Load(); n == 0 {
		t.Error("no badNonce was retried; is PEBBLE_WFE_NONCEREJECT in effect?")
	} else {
		t.Logf("%d badNonce rejections recovered", n)
	}
}
