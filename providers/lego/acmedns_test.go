package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/fakeacmedns"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
)

// TestACMEDNSThroughTheBridge: lego's acmedns provider against the
// repository's acme-dns fake, with the user's CNAME from
// _acme-challenge.d0.example.test (BIND9) to the account's name. lego
// writes at the CNAME's target, which is the record zonecert asks for;
// the bridge declares acme-dns's limits (no delete, two values per name)
// because lego's CleanUp does nothing and acme-dns keeps two values, and
// both are what the fake does. TestACMEDNSConformance runs the kit on it.
//
// Not parallel: configure exports the settings into this process's
// environment, where lego reads them.
func TestACMEDNSThroughTheBridge(t *testing.T) {
	if testing.Short() {
		t.Skip("needs BIND9")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	f := fakeacmedns.Start(t, "auth.example.test.", "")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.URL+"/register", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var acct map[string]any
	err = json.NewDecoder(resp.Body).Decode(&acct)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	full := acct["fulldomain"].(string) + "."
	storage := filepath.Join(t.TempDir(), "acme-dns.json")
	raw, _ := json.Marshal(map[string]any{"d0.example.test": acct})
	if err := os.WriteFile(storage, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test",
		Records: []string{"_acme-challenge.d0 CNAME " + full}}}})
	prov, meta, diags, err := configure(ctx, map[string]string{
		"provider": "acmedns", "acme_dns_api_base": f.URL, "acme_dns_storage_path": storage,
		"resolvers": b.Primary.String() + ":53",
	}, func(string) (string, bool) { return "", false }, slog.New(slog.DiscardHandler))
	if err != nil || len(diags) > 0 {
		t.Fatalf("configure: %v %v", err, diags)
	}
	if c := meta.Capabilities; !c.NoDelete || c.MaxValuesPerName != 2 || !c.ProvisionedNames {
		t.Fatalf("capabilities %+v, want no delete, two values per name, provisioned names", c)
	}
	rec := func(ka string) plugin.Record {
		return plugin.Record{ID: "1", FQDN: full, Zone: "example.test.", Value: digest(ka),
			Identifier: "d0.example.test", Token: "tok", KeyAuthorization: ka}
	}
	var want []string
	for _, ka := range []string{"tok.a", "tok.b", "tok.c"} {
		res, err := prov.Present(ctx, []plugin.Record{rec(ka)})
		if err != nil || res[0].Err != nil {
			t.Fatalf("present %s: %v %+v", ka, err, res)
		}
		want = append(want, digest(ka))
		if len(want) > 2 {
			want = want[1:]
		}
		if got := f.TXT(full); !sameSet(got, want) {
			t.Fatalf("after presenting %s the account serves %q, want %q", ka, got, want)
		}
	}
	res, err := prov.CleanUp(ctx, []plugin.Record{rec("tok.c")})
	if err != nil || res[0].Err != nil {
		t.Fatalf("cleanup: %v %+v", err, res)
	}
	if got := f.TXT(full); !sameSet(got, want) {
		t.Fatalf("after cleanup the account serves %q; acme-dns deletes nothing", got)
	}
	// A name without an account: lego registers one and asks for the
	// CNAME, which no retry creates, so the name is refused as one the
	// provider cannot write, naming the CNAME.
	ka := "tok.unregistered"
	res, err = prov.Present(ctx, []plugin.Record{{ID: "2", FQDN: "_acme-challenge.d1.example.test.", Zone: "example.test.",
		Value: digest(ka), Identifier: "d1.example.test", Token: "tok", KeyAuthorization: ka}})
	if err != nil {
		t.Fatal(err)
	}
	if e := res[0].Err; e == nil || e.Code != plugin.CodeZoneNotFound || e.Retryable || !strings.Contains(e.Message, "CNAME") {
		t.Fatalf("a name without an account: %+v; want a final zone-not-found error naming the CNAME", e)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// acmeZone is the acme-dns server's zone in TestACMEDNSConformance: not
// below the user's zone, so each is found on its own nameserver.
const acmeZone = "auth.acmedns.test."

// TestACMEDNSConformance runs the kit against lego's acmedns provider
// through the plugin binary, in its delegated mode, as zonecert drives it:
// each challenge name _acme-challenge.dN.example.test (BIND9) is a CNAME
// to its own account's name in the acme-dns zone; the kit follows it and
// sends the record zonecert sends (FQDN the account's name, Zone the
// acme-dns zone, Identifier dN.example.test), and checks the values the
// fake serves there. lego resolves with the resolvers zonecert passes: the
// two authoritative servers, as neither recurses. The bridge declares no
// delete, two values per name and provisioned names, so the kit skips
// foreign-rrset-restored (nothing to restore when nothing is deleted) and
// puts at most two values at a name, saying so in the output.
func TestACMEDNSConformance(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs BIND9 and runs the plugin binary")
	}
	f := fakeacmedns.Start(t, acmeZone, "")
	caps := plugin.Capabilities{ChallengeDetails: true, NoDelete: true, MaxValuesPerName: 2, ProvisionedNames: true}
	cfg := conformance.Config{
		Zone:         acmeZone,
		Nameservers:  []string{f.DNS},
		Timeout:      10 * time.Second,
		PollInterval: 50 * time.Millisecond,
		Capabilities: caps,
	}
	accounts := map[string]map[string]any{}
	var cnames []string
	for i := range conformance.NamesNeeded(cfg) {
		acct := registerACMEDNS(t, f.URL)
		domain := fmt.Sprintf("d%d.example.test", i)
		accounts[domain] = acct
		cnames = append(cnames, fmt.Sprintf("_acme-challenge.d%d CNAME %s.", i, acct["fulldomain"]))
		cfg.Names = append(cfg.Names, "_acme-challenge."+domain+".")
	}
	storage := filepath.Join(t.TempDir(), "acme-dns.json")
	raw, _ := json.Marshal(accounts)
	if err := os.WriteFile(storage, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test", Records: cnames}}})
	bindNS := b.Primary.String() + ":53"
	env := map[string]string{
		"LEGO_PROVIDER":         "acmedns",
		"ACME_DNS_API_BASE":     f.URL,
		"ACME_DNS_STORAGE_PATH": storage,
	}
	cfg.Target = conformance.Binary(legoBinary(t), host.Config{
		Name: "lego", LookupEnv: envOf(env), Resolvers: []string{bindNS, f.DNS},
	})
	cfg.Delegated = &conformance.Delegation{Zone: "example.test.", Nameservers: []string{bindNS}}
	conformance.Run(t, cfg)
}

// registerACMEDNS registers an account with acme-dns's API and returns
// it as lego stores it.
func registerACMEDNS(t *testing.T, api string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/register", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var acct map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&acct); err != nil {
		t.Fatal(err)
	}
	return acct
}
