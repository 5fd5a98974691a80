package acme

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

func TestPebbleDirectory(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testenv.PebbleOptions{})
	dir, err := e.client.Directory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for name, u := range map[string]string{"newNonce": dir.NewNonce, "newAccount": dir.NewAccount,
		"newOrder": dir.NewOrder, "revokeCert": dir.RevokeCert, "keyChange": dir.KeyChange, "renewalInfo": dir.RenewalInfo} {
		if u == "" {
			t.Errorf("directory %s is empty", name)
		}
	}
	if dir.Meta.TermsOfService == "" {
		t.Error("meta.termsOfService is empty")
	}
	if dir.Meta.ExternalAccountRequired {
		t.Error("meta.externalAccountRequired is true without EAB")
	}
	for _, p := range []string{testenv.PebbleProfileDefault, testenv.PebbleProfileShortlived} {
		if dir.Meta.Profiles[p] == "" {
			t.Errorf("meta.profiles lacks %q: %v", p, dir.Meta.Profiles)
		}
	}
}

func TestPebbleAccountLifecycle(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testenv.PebbleOptions{})
	for _, tc := range []struct{ kt, rollTo KeyType }{
		{KeyECDSAP256, KeyECDSAP384},
		{KeyECDSAP384, KeyRSA2048},
		{KeyRSA2048, KeyECDSAP256},
	} {
		t.Run(string(tc.kt), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			c := e.client
			key := mustKey(t, tc.kt)
			acct, err := c.NewAccount(ctx, key, NewAccountRequest{
				Contact: []string{"mailto:one@example.com"}, TermsOfServiceAgreed: true})
			if err != nil {
				t.Fatalf("NewAccount: %v", err)
			}
			if acct.Status != StatusValid || acct.URL == "" || !slices.Equal(acct.Contact, []string{"mailto:one@example.com"}) {
				t.Fatalf("new account = %+v", acct)
			}
			again, err := c.NewAccount(ctx, key, NewAccountRequest{TermsOfServiceAgreed: true})
			if err != nil || again.URL != acct.URL {
				t.Fatalf("NewAccount with the same key = %q, %v; want existing %q", again.URL, err, acct.URL)
			}
			found, err := c.FindAccount(ctx, key)
			if err != nil || found.URL != acct.URL {
				t.Fatalf("FindAccount = %q, %v; want %q", found.URL, err, acct.URL)
			}
			if _, err := c.FindAccount(ctx, mustKey(t, KeyECDSAP256)); !IsProblem(err, ProblemAccountDoesNotExist) {
				t.Fatalf("FindAccount of an unknown key: %v, want accountDoesNotExist", err)
			}

			upd, err := c.UpdateAccount(ctx, acct, []string{"mailto:two@example.com", "mailto:three@example.com"})
			if err != nil {
				t.Fatalf("UpdateAccount: %v", err)
			}
			got, err := c.GetAccount(ctx, upd)
			if err != nil {
				t.Fatalf("GetAccount: %v", err)
			}
			if !slices.Equal(got.Contact, []string{"mailto:two@example.com", "mailto:three@example.com"}) {
				t.Fatalf("contacts after update = %v", got.Contact)
			}

			newKey := mustKey(t, tc.rollTo)
			rolled, err := c.RolloverKey(ctx, acct, newKey)
			if err != nil {
				t.Fatalf("RolloverKey: %v", err)
			}
			if rolled.Key != newKey || rolled.URL != acct.URL {
				t.Fatalf("rolled account = %+v", rolled)
			}
			if found, err := c.FindAccount(ctx, newKey); err != nil || found.URL != acct.URL {
				t.Fatalf("FindAccount(new key) = %q, %v", found.URL, err)
			}
			if _, err := c.FindAccount(ctx, key); !IsProblem(err, ProblemAccountDoesNotExist) {
				t.Fatalf("FindAccount(old key) after rollover: %v, want accountDoesNotExist", err)
			}
			if _, err := c.GetAccount(ctx, acct); err == nil {
				t.Fatal("old key still signs for the account after rollover")
			}
			if _, err := c.GetAccount(ctx, rolled); err != nil {
				t.Fatalf("GetAccount with the new key: %v", err)
			}

			deact, err := c.DeactivateAccount(ctx, rolled)
			if err != nil {
				t.Fatalf("DeactivateAccount: %v", err)
			}
			if deact.Status != StatusDeactivated {
				t.Fatalf("status after deactivation = %q", deact.Status)
			}
			_, err = c.NewOrder(ctx, rolled, OrderRequest{Identifiers: DNSIdentifiers(randomDomain(t))})
			var p *Problem
			if !errors.As(err, &p) || p.Type != ProblemUnauthorized {
				t.Fatalf("NewOrder on a deactivated account: %v, want unauthorized problem", err)
			}
		})
	}
}

func TestPebbleEAB(t *testing.T) {
	t.Parallel()
	const kid = "kid-zonecert"
	const macKey = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	e := startEnv(t, testenv.PebbleOptions{EAB: map[string]string{kid: macKey}})
	ctx := t.Context()
	dir, err := e.client.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !dir.Meta.ExternalAccountRequired {
		t.Fatal("meta.externalAccountRequired is false with EAB configured")
	}
	hmacKey, err := DecodeEABKey(macKey)
	if err != nil {
		t.Fatal(err)
	}
	req := NewAccountRequest{TermsOfServiceAgreed: true}
	if _, err := e.client.NewAccount(ctx, mustKey(t, KeyECDSAP256), req); !IsProblem(err, ProblemExternalAccountRequired) {
		t.Fatalf("NewAccount without EAB: %v, want externalAccountRequired", err)
	}
	wrong := slices.Clone(hmacKey)
	wrong[0] ^= 1
	req.ExternalAccountBinding = &ExternalAccountBinding{KeyID: kid, HMACKey: wrong}
	var p *Problem
	if _, err := e.client.NewAccount(ctx, mustKey(t, KeyECDSAP256), req); !errors.As(err, &p) {
		t.Fatalf("NewAccount with a wrong HMAC key: %v, want a problem", err)
	}
	req.ExternalAccountBinding = &ExternalAccountBinding{KeyID: "no-such-kid", HMACKey: hmacKey}
	if _, err := e.client.NewAccount(ctx, mustKey(t, KeyECDSAP256), req); !errors.As(err, &p) {
		t.Fatalf("NewAccount with an unknown key ID: %v, want a problem", err)
	}
	for _, kt := range []KeyType{KeyECDSAP256, KeyRSA2048} {
		req.ExternalAccountBinding = &ExternalAccountBinding{KeyID: kid, HMACKey: hmacKey}
		acct, err := e.client.NewAccount(ctx, mustKey(t, kt), req)
		if err != nil {
			t.Fatalf("NewAccount with EAB (%s): %v", kt, err)
		}
		if acct.Status != StatusValid {
			t.Fatalf("EAB account status %q", acct.Status)
		}
	}
}

// verifyChain checks the chain against Pebble's issuing roots and returns
// the root it leads to.
func verifyChain(t *testing.T, roots *x509.CertPool, ch Certificate) *x509.Certificate {
	t.Helper()
	inter := x509.NewCertPool()
	for _, c := range ch.Chain[1:] {
		inter.AddCert(c)
	}
	paths, err := ch.Leaf().Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	if err != nil {
		t.Fatalf("chain %s does not verify: %v", ch.URL, err)
	}
	p := paths[0]
	return p[len(p)-1]
}

func TestPebbleWildcardOrders(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testenv.PebbleOptions{})
	roots, err := e.pebble.Roots(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		profile string
		kt      KeyType
		valid   time.Duration
	}{
		{testenv.PebbleProfileDefault, KeyECDSAP256, testenv.PebbleDefaultValidity},
		{testenv.PebbleProfileDefault, KeyRSA2048, testenv.PebbleDefaultValidity},
		{testenv.PebbleProfileDefault, KeyRSA4096, testenv.PebbleDefaultValidity},
		{testenv.PebbleProfileShortlived, KeyECDSAP384, testenv.PebbleShortlivedValidity},
		{testenv.PebbleProfileShortlived, KeyRSA3072, testenv.PebbleShortlivedValidity},
	} {
		t.Run(tc.profile+"/"+string(tc.kt), func(t *testing.T) {
			t.Parallel()
			acct := e.newAccount(t, KeyECDSAP256)
			d := randomDomain(t)
			names := []string{"*." + d, d}
			o, chains, key := e.issue(t, acct, OrderRequest{Identifiers: DNSIdentifiers(names...), Profile: tc.profile}, tc.kt)
			if o.Profile != tc.profile {
				t.Errorf("order profile = %q, want %q", o.Profile, tc.profile)
			}
			if len(o.Authorizations) != 2 {
				t.Errorf("order has %d authorizations, want 2 (wildcard and apex)", len(o.Authorizations))
			}
			leaf := chains[0].Leaf()
			got := slices.Sorted(slices.Values(leaf.DNSNames))
			if want := slices.Sorted(slices.Values(names)); !slices.Equal(got, want) {
				t.Errorf("certificate names = %v, want %v", got, want)
			}
			if !leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Error("certificate is not for the CSR's key")
			}
			if v := leaf.NotAfter.Sub(leaf.NotBefore); v < tc.valid-time.Minute || v > tc.valid+time.Minute {
				t.Errorf("validity = %s, want about %s for profile %s", v, tc.valid, tc.profile)
			}
			verifyChain(t, roots, chains[0])
		})
	}
}

// TestPebbleValidityPeriod requests notBefore and notAfter (§7.4), which
// Pebble copies into the certificate.
func TestPebbleValidityPeriod(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testenv.PebbleOptions{})
	acct := e.newAccount(t, KeyECDSAP256)
	nb := time.Now().Add(time.Hour).Truncate(time.Second)
	na := nb.Add(48 * time.Hour)
	o, chains, _ := e.issue(t, acct, OrderRequest{
		Identifiers: DNSIdentifiers(randomDomain(t)), NotBefore: nb, NotAfter: na,
		Profile: testenv.PebbleProfileDefault,
	}, KeyECDSAP256)
	if !o.NotBefore.Equal(nb) || !o.NotAfter.Equal(na) {
		t.Errorf("order validity %s–%s, want %s–%s", o.NotBefore, o.NotAfter, nb, na)
	}
	leaf := chains[0].Leaf()
	if !leaf.NotBefore.Equal(nb) || !leaf.NotAfter.Equal(na) {
		t.Errorf("certificate validity %s–%s, want %s–%s", leaf.NotBefore, leaf.NotAfter, nb, na)
	}
}

// TestPebbleNewOrderAmidAuthorizationPolls drives Pebble with what a storm
// of renewals sends: newOrders one at a time, many authorization polls,
// and other writes to Pebble's store (new accounts here). Pebble 2.10.1
// deadlocks when a newOrder and an authorization request meet while a write
// waits; without the client's order gate this mix hangs it within seconds.
// Pebble must still answer afterwards.
func TestPebbleNewOrderAmidAuthorizationPolls(t *testing.T) {
	t.Parallel()
	e := startEnv(t, testenv.PebbleOptions{NonceReject: -1})
	acct := e.newAccount(t, KeyECDSAP256)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	var mu sync.Mutex
	var authzs []string
	var orders, polls atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			// Each name makes Pebble scan every authorization it holds.
			var names []Identifier
			for range 5 {
				names = append(names, Identifier{Type: "dns", Value: randomDomain(t)})
			}
			o, err := e.client.NewOrder(ctx, acct, OrderRequest{Identifiers: names})
			if err == nil {
				orders.Add(1)
				mu.Lock()
				authzs = append(authzs, o.Authorizations...)
				mu.Unlock()
			}
		}
	})
	for i := range 24 {
		wg.Go(func() {
			for n := i; ctx.Err() == nil; n++ {
				mu.Lock()
				var u string
				if len(authzs) > 0 {
					u = authzs[n%len(authzs)]
				}
				mu.Unlock()
				if u == "" {
					runtime.Gosched()
					continue
				}
				if _, err := e.client.GetAuthorization(ctx, acct, u); err == nil {
					polls.Add(1)
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, _ = e.client.NewAccount(ctx, mustKey(t, KeyECDSAP256), NewAccountRequest{TermsOfServiceAgreed: true})
			}
		})
	}
	wg.Wait()
	t.Logf("%d orders and %d authorization polls in 8 s", orders.Load(), polls.Load())

	probe, cancelProbe := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancelProbe()
	if _, err := e.client.NewOrder(probe, acct, OrderRequest{Identifiers: []Identifier{{Type: "dns", Value: randomDomain(t)}}}); err != nil {
		t.Fatalf("Pebble stopped answering after newOrders amid authorization polls: %v", err)
	}
	if orders.Load() == 0 || polls.Load() == 0 {
		t.Fatalf("the mix did not run: %d orders, %d polls", orders.Load(), polls.Load())
	}
}
