package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/zonecert/zonecert/plugin/sdk"
)

const acmeZone = "auth.example.test."

// limits are what the plugin declares in main.go.
var limits = plugin.Capabilities{NoDelete: true, MaxValuesPerName: 2, ProvisionedNames: true}

// setup starts a fake acme-dns and returns it with an empty accounts file.
func setup(t *testing.T) (*fakeacmedns.Server, Settings) {
	t.Helper()
	f := fakeacmedns.Start(t, acmeZone, "")
	return f, Settings{APIBase: f.URL, StoragePath: filepath.Join(t.TempDir(), "acme-dns", "accounts.json")}
}

// registerN registers n accounts with the register command, for domains
// d0.example.test…, and returns their fulldomains.
func registerN(t *testing.T, s Settings, n int) []string {
	t.Helper()
	var names []string
	for i := range n {
		domain := fmt.Sprintf("d%d.example.test", i)
		var out, errb bytes.Buffer
		if code := register(t.Context(), []string{"-d", domain}, settingsEnv(s), &out, &errb); code != 0 {
			t.Fatalf("register -d %s: exit %d: %s", domain, code, errb.String())
		}
		accounts, err := loadAccounts(s.StoragePath)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, canonical(accounts[domain].FullDomain))
	}
	return names
}

func settingsEnv(s Settings) func(string) (string, bool) {
	env := map[string]string{"ACME_DNS_API_BASE": s.APIBase, "ACME_DNS_STORAGE_PATH": s.StoragePath}
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func kitConfig(t *testing.T, f *fakeacmedns.Server, s Settings, target conformance.Target) conformance.Config {
	cfg := conformance.Config{
		Target:       target,
		Zone:         acmeZone,
		Nameservers:  []string{f.DNS},
		Timeout:      5 * time.Second,
		PollInterval: 20 * time.Millisecond,
		Capabilities: limits,
	}
	cfg.Names = registerN(t, s, conformance.NamesNeeded(cfg))
	return cfg
}

// TestConformance: the kit certifies the provider with its declared
// limits, on names registered in advance.
func TestConformance(t *testing.T) {
	f, s := setup(t)
	conformance.Run(t, kitConfig(t, f, s, conformance.InProcess("acmedns", func(ctx context.Context) (plugin.Provider, error) {
		return newProvider(ctx, s, nil)
	})))
}

// TestConformanceBinary: the same through the built plugin, which must
// declare the limits the kit is told.
func TestConformanceBinary(t *testing.T) {
	f, s := setup(t)
	cfg := host.Config{Name: "acmedns", LookupEnv: settingsEnv(s)}
	conformance.Run(t, kitConfig(t, f, s, conformance.Binary(testenv.PluginBinary(t, "acmedns", "."), cfg)))
}

// TestConformanceDelegated: the kit's delegated mode, as zonecert drives
// the plugin: each challenge name _acme-challenge.dN.example.test on BIND9
// is a CNAME to its account's name, which the kit follows before sending
// the record, and checks where the values land (the fake's DNS). In
// process and through the built plugin.
func TestConformanceDelegated(t *testing.T) {
	if testing.Short() {
		t.Skip("needs BIND9")
	}
	t.Run("in-process", func(t *testing.T) {
		f, s := setup(t)
		conformance.Run(t, delegatedConfig(t, f, s, conformance.InProcess("acmedns", func(ctx context.Context) (plugin.Provider, error) {
			return newProvider(ctx, s, nil)
		})))
	})
	t.Run("binary", func(t *testing.T) {
		f, s := setup(t)
		cfg := host.Config{Name: "acmedns", LookupEnv: settingsEnv(s)}
		conformance.Run(t, delegatedConfig(t, f, s, conformance.Binary(testenv.PluginBinary(t, "acmedns", "."), cfg)))
	})
}

// delegatedConfig registers the accounts and serves the user's zone with
// a CNAME to each.
func delegatedConfig(t *testing.T, f *fakeacmedns.Server, s Settings, target conformance.Target) conformance.Config {
	cfg := conformance.Config{
		Target:       target,
		Zone:         acmeZone,
		Nameservers:  []string{f.DNS},
		Timeout:      5 * time.Second,
		PollInterval: 20 * time.Millisecond,
		Capabilities: limits,
	}
	var cnames []string
	for i, full := range registerN(t, s, conformance.NamesNeeded(cfg)) {
		cnames = append(cnames, fmt.Sprintf("_acme-challenge.d%d CNAME %s", i, full))
		cfg.Names = append(cfg.Names, fmt.Sprintf("_acme-challenge.d%d.example.test.", i))
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test", Records: cnames}}})
	cfg.Delegated = &conformance.Delegation{Zone: "example.test.", Nameservers: []string{b.Primary.String() + ":53"}}
	return cfg
}

func TestRegister(t *testing.T) {
	f, s := setup(t)
	var out, errb bytes.Buffer
	if code := register(t.Context(), []string{"-d", "*.Example.TEST."}, settingsEnv(s), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	st, err := os.Stat(s.StoragePath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("accounts file: %v, mode %v; want 0600", err, st.Mode())
	}
	raw, _ := os.ReadFile(s.StoragePath)
	// lego's format: the domain without "*." and final dot, lego's fields.
	var file map[string]map[string]any
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	entry, ok := file["example.test"]
	if !ok {
		t.Fatalf("accounts file %s has no entry for example.test", raw)
	}
	for _, k := range []string{"fulldomain", "subdomain", "username", "password"} {
		if s, _ := entry[k].(string); s == "" {
			t.Errorf("entry lacks %q: %v", k, entry)
		}
	}
	cname := "_acme-challenge.example.test. CNAME " + canonical(entry["fulldomain"].(string))
	if !strings.Contains(out.String(), cname) {
		t.Errorf("output %q does not give the CNAME %q", out.String(), cname)
	}
	if strings.Contains(out.String()+errb.String(), entry["password"].(string)) {
		t.Error("register printed the password")
	}
	// Again: the existing account, no new registration.
	out.Reset()
	if code := register(t.Context(), []string{"-d", "example.test"}, settingsEnv(s), &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "already has") || !strings.Contains(out.String(), cname) {
		t.Fatalf("second register: exit %d, %q", code, out.String())
	}
	_ = f
	for _, args := range [][]string{{}, {"-d", ""}, {"-d", "a b"}} {
		if code := register(t.Context(), args, settingsEnv(s), &out, &errb); code != 2 {
			t.Errorf("register %q: exit %d, want 2", args, code)
		}
	}
}

// TestLegoAccountsFile: a file lego wrote is read as it is, accounts are
// found by fulldomain, and register keeps the entries it finds there.
func TestLegoAccountsFile(t *testing.T) {
	f, s := setup(t)
	// An account made through the API, written the way lego writes it.
	a, err := registerAccount(t.Context(), sdk.JSONAPI{Base: f.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lego := fmt.Sprintf(`{"lego.example.test":{"fulldomain":%q,"subdomain":%q,"username":%q,"password":%q,"server_url":%q,"extra":1}}`,
		a.FullDomain, a.SubDomain, a.Username, a.Password, f.URL)
	if err := os.MkdirAll(filepath.Dir(s.StoragePath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.StoragePath, []byte(lego), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := newProvider(t.Context(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	fqdn := canonical(a.FullDomain)
	value := strings.Repeat("A", 43)
	res, err := p.Present(t.Context(), []sdk.Record{{ID: "1", FQDN: fqdn, Zone: acmeZone, Value: value}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("Present: %v %v", err, res)
	}
	if got := f.TXT(fqdn); !slices.Equal(got, []string{value}) {
		t.Fatalf("served %q, want %q", got, value)
	}
	registerN(t, s, 1)
	raw, _ := os.ReadFile(s.StoragePath)
	if !bytes.Contains(raw, []byte(`"lego.example.test"`)) || !bytes.Contains(raw, []byte(`"extra": 1`)) {
		t.Fatalf("register lost lego's entry:\n%s", raw)
	}
}

// TestAPIBehaviour: acme-dns keeps the two newest values; wrong
// credentials, an address outside allowfrom and a name without an account
// come back with the codes the host acts on.
func TestAPIBehaviour(t *testing.T) {
	f, s := setup(t)
	names := registerN(t, s, 1)
	p, err := newProvider(t.Context(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := func(c byte) string { return strings.Repeat(string(c), 43) }
	present := func(fqdn, value string) *sdk.Error {
		t.Helper()
		res, err := p.Present(t.Context(), []sdk.Record{{ID: "x", FQDN: fqdn, Zone: acmeZone, Value: value}})
		if err != nil || len(res) != 1 {
			t.Fatalf("Present: %v, %v", res, err)
		}
		return res[0].Err
	}
	for _, c := range []byte{'a', 'b', 'c'} {
		if e := present(names[0], v(c)); e != nil {
			t.Fatal(e)
		}
	}
	got := f.TXT(names[0])
	slices.Sort(got)
	if !slices.Equal(got, []string{v('b'), v('c')}) {
		t.Fatalf("after three updates acme-dns serves %q; want the two newest", got)
	}
	if e := present("nobody."+acmeZone, v('d')); e == nil || e.Code != sdk.CodeZoneNotFound || !strings.Contains(e.Message, "register") {
		t.Errorf("name without an account: %v; want zone-not-found naming the register command", e)
	}

	// Wrong password.
	accounts, _ := loadAccounts(s.StoragePath)
	a := accounts["d0.example.test"]
	a.Password = "wrong"
	if err := saveAccount(s.StoragePath, "d0.example.test", a); err != nil {
		t.Fatal(err)
	}
	if e := present(names[0], v('e')); e == nil || e.Code != sdk.CodeAuth {
		t.Errorf("wrong password: %v; want auth", e)
	}

	// An account that only 192.0.2.0/24 may update.
	var out, errb bytes.Buffer
	if code := register(t.Context(), []string{"-d", "fenced.example.test", "--allow-from", "192.0.2.0/24"}, settingsEnv(s), &out, &errb); code != 0 {
		t.Fatalf("register --allow-from: %s", errb.String())
	}
	accounts, _ = loadAccounts(s.StoragePath)
	if e := present(canonical(accounts["fenced.example.test"].FullDomain), v('f')); e == nil || e.Code != sdk.CodeAuth {
		t.Errorf("update from outside allowfrom: %v; want auth", e)
	}
}

func TestSettingsErrors(t *testing.T) {
	f, s := setup(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		s       Settings
		setting string
	}{
		{"api_base not a URL", Settings{APIBase: "auth.example", StoragePath: s.StoragePath}, "api_base"},
		{"storage unreadable", Settings{APIBase: f.URL, StoragePath: bad}, "storage_path"},
	}
	for _, c := range cases {
		_, err := newProvider(t.Context(), c.s, nil)
		se, ok := err.(*sdk.SettingsError)
		if !ok || se.Diagnostics[0].Setting != c.setting {
			t.Errorf("%s: %v; want a diagnostic on %s", c.name, err, c.setting)
		}
	}
}
