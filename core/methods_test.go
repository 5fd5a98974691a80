package core

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/plugin"
)

// orderCounter counts progress.Order events: an order placed.
type orderCounter struct {
	mu     sync.Mutex
	orders int
}

func (c *orderCounter) Observe(_ context.Context, ev progress.Event) {
	if ev.Stage == progress.Order {
		c.mu.Lock()
		c.orders++
		c.mu.Unlock()
	}
}

func (c *orderCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.orders
}

// registerAccount registers the engine's account for req's CA and email
// without ordering anything, and returns its URL.
func registerAccount(t *testing.T, env *engineEnv, req Request) string {
	t.Helper()
	eng := env.engine(t, nil)
	client, err := acme.New(acme.Options{DirectoryURL: req.DirectoryURL, HTTPClient: env.pebble.HTTPClient})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := client.Directory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	acct, err := eng.account(t.Context(), client, dir, req)
	if err != nil {
		t.Fatal(err)
	}
	return acct.URL
}

func (p *zoneProvider) setTXT(name string, values ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.txt[name] = values
}

// dns-persist-01 with no provider at all: the standing record authorizes
// the wildcard and the apex, twice (a renewal), and no record is written.
// Records that do not authorize stop the run before any order.
func TestObtainDNSPersistWithoutProvider(t *testing.T) {
	env := startEngineEnv(t)
	base := env.request("*.engine.test", "engine.test")
	acctURL := registerAccount(t, env, base)
	const issuer = "pebble.letsencrypt.org" // Pebble's default CAA identity
	const name = "_validation-persist.engine.test."
	eng, err := New(Config{Storage: env.store, HTTPClient: env.pebble.HTTPClient})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("wildcard and apex, then again", func(t *testing.T) {
		env.prov.setTXT(name, acme.PersistRecord{Issuer: issuer, AccountURI: acctURL, Wildcard: true,
			Until: time.Now().Add(time.Hour)}.String())
		for i, method := range []string{acme.ChallengeDNSPersist01, ChallengeAuto} {
			req := base
			req.Challenge = method
			res, err := eng.Obtain(t.Context(), req)
			if err != nil {
				t.Fatalf("obtain %d (%s): %v", i, method, err)
			}
			if res.Challenge != acme.ChallengeDNSPersist01 || res.Account != acctURL {
				t.Errorf("obtain %d: challenge %q account %q", i, res.Challenge, res.Account)
			}
		}
		if env.prov.presents != 0 || env.prov.cleanups != 0 {
			t.Errorf("provider called: %d presents, %d cleanups", env.prov.presents, env.prov.cleanups)
		}
	})

	for _, tc := range []struct {
		name, record string
		domains      []string
		want         []string
	}{
		{"wrong account URI", acme.PersistRecord{Issuer: issuer, AccountURI: acctURL + "0", Wildcard: true}.String(),
			[]string{"*.engine.test"}, []string{"account URI is " + acctURL + "0, want " + acctURL}},
		{"no policy=wildcard for a wildcard", acme.PersistRecord{Issuer: issuer, AccountURI: acctURL}.String(),
			[]string{"*.engine.test", "engine.test"}, []string{"*.engine.test", "no policy=wildcard"}},
		{"another issuer", acme.PersistRecord{Issuer: "other.example", AccountURI: acctURL}.String(),
			[]string{"engine.test"}, []string{`issuer "other.example"`, issuer}},
		{"persistUntil passed", acme.PersistRecord{Issuer: issuer, AccountURI: acctURL, Until: time.Now().Add(-time.Minute)}.String(),
			[]string{"engine.test"}, []string{"persistUntil", "has passed"}},
		{"no record", "", []string{"engine.test"}, []string{"no TXT record"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.record == "" {
				env.prov.setTXT(name)
			} else {
				env.prov.setTXT(name, tc.record)
			}
			orders := &orderCounter{}
			eng, err := New(Config{Storage: env.store, HTTPClient: env.pebble.HTTPClient, Observer: orders})
			if err != nil {
				t.Fatal(err)
			}
			for _, method := range []string{acme.ChallengeDNSPersist01, ChallengeAuto} {
				req := env.request(tc.domains...)
				req.Challenge = method
				_, err = eng.Obtain(t.Context(), req)
				if KindOf(err) != KindDNS {
					t.Fatalf("%s: err = %v (kind %v), want a DNS error", method, err, KindOf(err))
				}
				for _, w := range append(tc.want, "ns.engine.test.") {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not name %q", method, err, w)
					}
				}
			}
			if orders.count() != 0 {
				t.Errorf("%d orders placed", orders.count())
			}
		})
	}
}

// Without a record, auto falls back to dns-01 through the provider.
func TestObtainAutoFallsBackToDNS01(t *testing.T) {
	env := startEngineEnv(t)
	res, err := env.engine(t, nil).Obtain(t.Context(), env.request("auto.engine.test"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Challenge != acme.ChallengeDNS01 || env.prov.presents != 1 {
		t.Errorf("challenge %q, presents %d; want dns-01 and 1", res.Challenge, env.prov.presents)
	}
}

// dns-account-01: two accounts validate the same names at the same time;
// each record sits under its own account label, so neither clobbers the
// other's.
func TestObtainDNSAccountTwoAccountsAtOnce(t *testing.T) {
	env := startEngineEnv(t)
	eng := env.engine(t, nil)
	results := make([]*Result, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			req := env.request("*.shared.engine.test", "shared.engine.test")
			req.Email = "owner" + strconv.Itoa(i) + "@engine.test"
			req.CertName = "shared-" + strconv.Itoa(i)
			req.Challenge = acme.ChallengeDNSAccount01
			results[i], errs[i] = eng.Obtain(t.Context(), req)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("account %d: %v", i, err)
		}
		if results[i].Challenge != acme.ChallengeDNSAccount01 {
			t.Errorf("account %d used %s", i, results[i].Challenge)
		}
	}
	if results[0].Account == results[1].Account {
		t.Fatalf("both orders used account %s", results[0].Account)
	}
	if env.prov.records() != 0 {
		t.Errorf("%d records left", env.prov.records())
	}
}

// A method the CA does not offer is a clear error before any record is
// written. The CA here is Pebble behind a proxy that strips the method
// from every authorization, as a CA without it would.
func TestObtainMethodNotOffered(t *testing.T) {
	env := startEngineEnv(t)
	client := stripChallengeProxy(t, env, acme.ChallengeDNSAccount01)
	eng, err := New(Config{Storage: env.store, Provider: env.prov, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	req := env.request("strip.engine.test")
	req.DirectoryURL = strings.Replace(req.DirectoryURL, hostOf(t, req.DirectoryURL), client.Transport.(*proxyTransport).host, 1)
	req.Challenge = acme.ChallengeDNSAccount01
	_, err = eng.Obtain(t.Context(), req)
	if KindOf(err) != KindCA || !strings.Contains(err.Error(), "does not offer dns-account-01 for strip.engine.test") {
		t.Fatalf("err = %v (kind %v)", err, KindOf(err))
	}
	if env.prov.presents != 0 {
		t.Errorf("%d presents", env.prov.presents)
	}
	// Nor can no provider do dns-01.
	eng, err = New(Config{Storage: env.store, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	req.Challenge = acme.ChallengeDNS01
	if _, err := eng.Obtain(t.Context(), req); KindOf(err) != KindInput || !strings.Contains(err.Error(), "needs a DNS provider") {
		t.Fatalf("dns-01 without provider: %v", err)
	}
}

func hostOf(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

// proxyTransport sends the client's requests to the proxy, whatever host
// they name.
type proxyTransport struct {
	host string
	rt   http.RoundTripper
}

func (p *proxyTransport) RoundTrip(r *http.Request) (*http.Response, error) { return p.rt.RoundTrip(r) }

// stripChallengeProxy puts a TLS reverse proxy in front of Pebble that
// removes challenges of type typ from authorization answers. Pebble builds
// its URLs from the Host header, which the proxy keeps, so every URL (and
// the JWS "url" header) names the proxy.
func stripChallengeProxy(t *testing.T, env *engineEnv, typ string) *http.Client {
	t.Helper()
	target, err := url.Parse(env.pebble.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
			r.Out.Host = r.In.Host
		},
		Transport: env.pebble.HTTPClient.Transport,
		ModifyResponse: func(resp *http.Response) error {
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				return nil
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				if chs, ok := m["challenges"].([]any); ok {
					kept := chs[:0]
					for _, c := range chs {
						if c.(map[string]any)["type"] != typ {
							kept = append(kept, c)
						}
					}
					m["challenges"] = kept
					if b, err = json.Marshal(m); err != nil {
						return err
					}
				}
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			return nil
		},
	}
	srv := httptest.NewTLSServer(rp)
	t.Cleanup(srv.Close)
	c := srv.Client()
	c.Transport = &proxyTransport{host: srv.Listener.Addr().String(), rt: c.Transport}
	return c
}

// detailsProvider declares ChallengeDetails, as the lego bridge does.
type detailsProvider struct{ *zoneProvider }

func (detailsProvider) Capabilities() plugin.Capabilities {
	return plugin.Capabilities{ChallengeDetails: true}
}

// A provider that derives dns-01 records itself is refused dns-account-01
// with a message naming the way out, before any record is written.
func TestDNSAccountRefusedForChallengeDetailsProvider(t *testing.T) {
	env := startEngineEnv(t)
	eng, err := New(Config{Storage: env.store, Provider: detailsProvider{env.prov}, HTTPClient: env.pebble.HTTPClient})
	if err != nil {
		t.Fatal(err)
	}
	req := env.request("details.engine.test")
	req.Challenge = acme.ChallengeDNSAccount01
	_, err = eng.Obtain(t.Context(), req)
	if KindOf(err) != KindInput || !strings.Contains(err.Error(), "cannot publish dns-account-01") {
		t.Fatalf("err = %v (kind %v)", err, KindOf(err))
	}
	if env.prov.presents != 0 {
		t.Errorf("%d presents", env.prov.presents)
	}
}
