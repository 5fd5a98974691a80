package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
	"testing"

	"github.com/go-acme/lego/v5/challenge/dns01"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
)

// recorder is a lego provider that only records its calls.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) Present(_ context.Context, domain, token, keyAuth string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "present "+domain)
	return nil
}

func (r *recorder) CleanUp(_ context.Context, domain, token, keyAuth string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "cleanup "+domain)
	return nil
}

func digest(ka string) string {
	sum := sha256.Sum256([]byte(ka))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestBridgeRefusesWhatLegoWouldWriteElsewhere: the bridge calls lego only
// when lego would write exactly the record zonecert asked for.
func TestBridgeRefusesWhatLegoWouldWriteElsewhere(t *testing.T) {
	if testing.Short() {
		t.Skip("needs BIND9")
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test", Records: []string{
		"_acme-challenge.cname CNAME target.example.test.",
	}}}})
	dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: []string{b.Primary.String() + ":53"}}))
	const ka = "tok.thumb"
	ok := func(id, fqdn string) plugin.Record {
		return plugin.Record{ID: "1", FQDN: fqdn, Zone: "example.test.", Value: digest(ka), Identifier: id, Token: "tok", KeyAuthorization: ka}
	}
	tests := []struct {
		name string
		rec  plugin.Record
		code plugin.Code // -1: success
		want string      // in the message
	}{
		{"plain", ok("www.example.test", "_acme-challenge.www.example.test."), -1, ""},
		{"wildcard", ok("*.example.test", "_acme-challenge.example.test."), -1, ""},
		{"CNAME followed alike", ok("cname.example.test", "target.example.test."), -1, ""},
		{"challenge alias", ok("alias.example.test", "elsewhere.example.test."), plugin.CodeConflict, "refusing to write elsewhere"},
		{"another label", ok("www.example.test", "_acme-dnsaccount.www.example.test."), plugin.CodeConflict, "refusing to write elsewhere"},
		{"another value", func() plugin.Record {
			r := ok("www.example.test", "_acme-challenge.www.example.test.")
			r.Value = "not-the-digest"
			return r
		}(), plugin.CodeConflict, "would publish value"},
		{"another zone", func() plugin.Record {
			r := ok("www.example.test", "_acme-challenge.www.example.test.")
			r.Zone = "www.example.test."
			return r
		}(), plugin.CodeZoneNotFound, "zonecert found zone"},
		{"no details", plugin.Record{ID: "1", FQDN: "_acme-challenge.www.example.test.", Zone: "example.test.", Value: "v"}, plugin.CodeOther, "no ACME challenge details"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			br := &bridge{code: "fake", lego: rec}
			res, err := br.Present(t.Context(), []plugin.Record{tt.rec})
			if err != nil || len(res) != 1 {
				t.Fatalf("Present = %v, %v", res, err)
			}
			if tt.code < 0 {
				if res[0].Err != nil || len(rec.calls) != 1 {
					t.Fatalf("error %v, lego calls %v; want one call", res[0].Err, rec.calls)
				}
				// The state carries the details for a cleanup without them.
				bare := tt.rec.WithoutChallengeDetails()
				bare.State = res[0].State
				res, err = br.CleanUp(t.Context(), []plugin.Record{bare})
				if err != nil || res[0].Err != nil || len(rec.calls) != 2 || !strings.HasPrefix(rec.calls[1], "cleanup ") {
					t.Fatalf("CleanUp from state: %v %v, calls %v", res, err, rec.calls)
				}
				return
			}
			if res[0].Err == nil || res[0].Err.Code != tt.code || !strings.Contains(res[0].Err.Message, tt.want) {
				t.Fatalf("error %v; want code %v with %q", res[0].Err, tt.code, tt.want)
			}
			if len(rec.calls) != 0 {
				t.Fatalf("lego was called: %v", rec.calls)
			}
		})
	}
}

// Secrets lego files as additional settings are secret settings all the
// same, so they stay out of logs and plans.
func TestAdditionalSecretsAreSecret(t *testing.T) {
	p, ok := byCode("dnsupdate")
	if !ok {
		t.Fatal("dnsupdate is not hosted")
	}
	secret := map[string]bool{}
	for _, s := range settingsOf(p) {
		secret[s.Name] = s.Secret
	}
	for name, want := range map[string]bool{"dnsupdate_tsig_secret": true, "dnsupdate_tsig_gss_password": true, "dnsupdate_ttl": false, "dnsupdate_nameserver": true} {
		if secret[name] != want {
			t.Errorf("%s secret %v, want %v", name, secret[name], want)
		}
	}
}
