package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/internal/testenv"
)

// persistArgs are the flags of a persist command against the test CA and
// DNS; state goes to path.
func (e *e2eEnv) persistArgs(verb, path string, extra ...string) []string {
	args := []string{"persist", verb,
		"--server", e.pebble.DirectoryURL, "--ca-bundle", e.bundle, "--email", "e2e@example.com",
		"--dns-resolver", e.bind.Primary.String(), "--path", path}
	if verb != "show" { // show takes no provider flags
		args = append(args, "--plugin-dir", e.bin, "--propagation-timeout", "30s")
	}
	return append(args, extra...)
}

// TestPersistEndToEnd is the firewalled-host recipe with the real binary,
// Pebble and BIND9: the host's first dns-persist-01 run registers its
// account and says which record it needs; persist setup publishes it once
// through rfc2136; from then on the host obtains and renews a wildcard plus
// apex with no provider at all, and the zone is not changed (its serial,
// which every RFC 2136 UPDATE bumps, stays put).
func TestPersistEndToEnd(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "persist.test"}}})
	ctx := t.Context()
	home := t.TempDir()
	state := filepath.Join(home, "state")
	noDNSEnv := baseEnv(home) // the host: no DNS credentials at all
	names := []string{"-d", "*.persist.test", "-d", "persist.test"}
	serial := func() uint32 {
		t.Helper()
		s, err := e.bind.Serial(ctx, e.bind.Primary, "persist.test")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	start := serial()

	// Bad input first: nothing is written anywhere.
	r := zonecert(ctx, t, e.bin, e.rfc2136Env(home), e.persistArgs("setup", state, append(names, "--dns", "rfc2136")...)...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "no account") {
		t.Fatalf("setup without an account: exit %d\n%s", r.code, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), e.persistArgs("setup", state, append(names, "--dns", "rfc2136", "--until", "2020-01-01")...)...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "in the past") {
		t.Fatalf("setup --until in the past: exit %d\n%s", r.code, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, noDNSEnv, e.obtainArgs(state, append(names, "--challenge", "http-01")...)...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "unknown challenge") {
		t.Fatalf("--challenge http-01: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(state, "accounts")); !os.IsNotExist(err) {
		t.Fatalf("bad input left an account directory: %v", err)
	}

	// The host's first run: account registered, no order, the record named.
	hostArgs := func(extra ...string) []string {
		args := e.obtainArgs(state, append(names, extra...)...)
		for i, a := range args { // the host has no provider
			if a == "--dns" {
				args = append(args[:i:i], args[i+2:]...)
				break
			}
		}
		return args
	}
	r = zonecert(ctx, t, e.bin, noDNSEnv, hostArgs("--challenge", "dns-persist-01")...)
	if r.code != exitDNS || !strings.Contains(r.stderr, "no TXT record") ||
		!strings.Contains(r.stderr, `_validation-persist.persist.test. TXT "pebble.letsencrypt.org; accounturi=`) {
		t.Fatalf("first run without a record: exit %d\n%s", r.code, r.stderr)
	}

	// Without --dns, setup prints the record for a human.
	r = zonecert(ctx, t, e.bin, noDNSEnv, e.persistArgs("setup", state, names...)...)
	if r.code != 0 || !strings.HasPrefix(r.stdout, `_validation-persist.persist.test. 300 IN TXT "pebble.letsencrypt.org; accounturi=https://`) ||
		!strings.Contains(r.stdout, "; policy=wildcard") {
		t.Fatalf("printing the record: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if serial() != start {
		t.Fatal("the zone changed before setup")
	}

	// Setup through rfc2136, from "the machine with credentials" (same
	// account directory here).
	r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), e.persistArgs("setup", state, append(names, "--dns", "rfc2136", "--until", time.Now().AddDate(1, 0, 0).Format(time.DateOnly))...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "OK: every authoritative nameserver serves it") {
		t.Fatalf("setup: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	afterSetup := serial()
	if afterSetup == start {
		t.Fatal("setup changed nothing")
	}

	// Obtain, then renew, with no provider; then auto with a provider at
	// hand also takes the standing record. No DNS change.
	for i, run := range []struct {
		env  []string
		args []string
	}{
		{noDNSEnv, hostArgs("--challenge", "dns-persist-01", "--json")},
		// The same obtain again orders only with --force: the first
		// certificate is not due.
		{noDNSEnv, hostArgs("--challenge", "dns-persist-01", "--json", "--force")},
		{e.rfc2136Env(home), e.obtainArgs(state, append(names, "--json", "--force")...)},
	} {
		r = zonecert(ctx, t, e.bin, run.env, run.args...)
		if r.code != 0 {
			t.Fatalf("obtain %d: exit %d\n%s", i, r.code, r.stderr)
		}
		var res struct {
			Challenge string `json:"challenge"`
			Files     struct {
				FullChain string `json:"fullchain"`
			} `json:"files"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("obtain %d: %v\n%s", i, err, r.stdout)
		}
		if res.Challenge != "dns-persist-01" {
			t.Errorf("obtain %d used %q", i, res.Challenge)
		}
		verifyChain(ctx, t, e.pebble, res.Files.FullChain, []string{"*.persist.test", "persist.test"})
	}
	// The lineage's plan records the method; renew repeats it with no
	// provider.
	plan, err := os.ReadFile(filepath.Join(state, "renewal", "_.persist.test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pl struct {
		Challenge     string `json:"challenge"`
		ChallengeUsed string `json:"challenge_used"`
	}
	if err := json.Unmarshal(plan, &pl); err != nil {
		t.Fatal(err)
	}
	if pl.Challenge != "auto" || pl.ChallengeUsed != "dns-persist-01" {
		t.Errorf("plan records challenge %q, used %q\n%s", pl.Challenge, pl.ChallengeUsed, plan)
	}
	// The last obtain had a provider; the first ones had none. Renew as
	// the host: a fresh lineage obtained with no provider at all.
	r = zonecert(ctx, t, e.bin, noDNSEnv, hostArgs("--challenge", "dns-persist-01", "--cert-name", "host")...)
	if r.code != 0 {
		t.Fatalf("obtain host lineage: exit %d\n%s", r.code, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, noDNSEnv, "renew", "--force", "--json", "--cert-name", "host", "--path", state,
		"--ca-bundle", e.bundle, "--dns-resolver", e.bind.Primary.String())
	if r.code != 0 || !strings.Contains(r.stdout, `"renewed":true`) {
		t.Fatalf("renew without a provider: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if s := serial(); s != afterSetup {
		t.Errorf("zone serial went from %d to %d: obtain or renew changed DNS", afterSetup, s)
	}

	// show says what each name has and needs.
	r = zonecert(ctx, t, e.bin, noDNSEnv, e.persistArgs("show", state, append(names, "-d", "nowild.persist.test")...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "persist.test\n  needs: _validation-persist.persist.test.") ||
		!strings.Contains(r.stdout, "nowild.persist.test\n  needs:") || !strings.Contains(r.stdout, "NOT READY") ||
		!strings.Contains(r.stdout, "has nothing: no TXT record") {
		t.Fatalf("show: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// Setting up again with other settings converges on the new record:
	// this account's old value goes once the new one is everywhere.
	r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), e.persistArgs("setup", state, append(names, "--dns", "rfc2136")...)...)
	if r.code != 0 {
		t.Fatalf("setup again: exit %d\n%s", r.code, r.stderr)
	}
	vals, err := e.bind.TXT(ctx, e.bind.Primary, "_validation-persist.persist.test.")
	if err != nil || len(vals) != 1 || strings.Contains(vals[0], "persistUntil") || !strings.Contains(vals[0], "policy=wildcard") {
		t.Fatalf("after setup without --until: %q, %v", vals, err)
	}

	// A record without policy=wildcard does not do for a wildcard; another
	// account's state directory has the wrong account URI. Both fail
	// before any order, naming the fault.
	r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), e.persistArgs("setup", state, "-d", "nowild.persist.test", "--dns", "rfc2136")...)
	if r.code != 0 {
		t.Fatalf("setup nowild: exit %d\n%s", r.code, r.stderr)
	}
	args := e.obtainArgs(state, "--challenge", "dns-persist-01", "-d", "*.nowild.persist.test")
	r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), args...)
	if r.code != exitDNS || !strings.Contains(r.stderr, "no policy=wildcard") {
		t.Fatalf("wildcard without policy: exit %d\n%s", r.code, r.stderr)
	}
	other := filepath.Join(home, "other")
	r = zonecert(ctx, t, e.bin, noDNSEnv, e.obtainArgs(other, "--challenge", "dns-persist-01", "--dns", "", "-d", "persist.test")...)
	if r.code != exitDNS || !strings.Contains(r.stderr, "account URI is ") {
		t.Fatalf("another account: exit %d\n%s", r.code, r.stderr)
	}

	// remove takes this account's records away.
	r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), e.persistArgs("remove", state, append(names, "-d", "nowild.persist.test", "--dns", "rfc2136")...)...)
	if r.code != 0 {
		t.Fatalf("remove: exit %d\n%s", r.code, r.stderr)
	}
	e.noTXT(ctx, t, "_validation-persist.persist.test.")
	e.noTXT(ctx, t, "_validation-persist.nowild.persist.test.")

	// dns-account-01 through rfc2136: two accounts (two hosts) order the
	// same names at the same time; each record has its own label, and
	// both are removed afterwards.
	results := make(chan runResult, 2)
	for i := range 2 {
		dir := filepath.Join(home, "acct"+string(rune('a'+i)))
		go func() {
			r := runResult{code: -1, stderr: "zonecert did not run"}
			defer func() { results <- r }() // sent even if the helper gives up
			r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), e.obtainArgs(dir, append(names, "--challenge", "dns-account-01", "--json")...)...)
		}()
	}
	var accounts []string
	for range 2 {
		r := <-results
		var res struct{ Challenge, Account string }
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &res) != nil || res.Challenge != "dns-account-01" {
			t.Fatalf("dns-account-01: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		accounts = append(accounts, res.Account)
	}
	if accounts[0] == accounts[1] {
		t.Fatalf("both runs used account %s", accounts[0])
	}
	for _, a := range accounts {
		e.noTXT(ctx, t, acme.DNSAccountLabel(a)+"._acme-challenge.persist.test.")
	}
}
