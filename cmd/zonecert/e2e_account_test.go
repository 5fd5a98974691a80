package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// accountArgs are the flags of an account command against the test CA.
func (e *e2eEnv) accountArgs(verb, path string, extra ...string) []string {
	args := []string{"account", verb, "--path", path}
	if verb != "list" {
		args = append(args, "--server", e.pebble.DirectoryURL, "--ca-bundle", e.bundle)
	}
	return append(args, extra...)
}

type accountJSON struct {
	URI       string    `json:"uri"`
	Directory string    `json:"directory"`
	Email     string    `json:"email"`
	Contact   []string  `json:"contact"`
	Status    string    `json:"status"`
	KeyType   string    `json:"key_type"`
	Created   time.Time `json:"created"`
}

func decodeJSON[T any](t *testing.T, what, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s: not JSON (%v):\n%s", what, err, out)
	}
	return v
}

// TestAccountCommands runs every account command through the real binary
// against Pebble: a refused register writes nothing; register, show and
// list agree on one account; update changes the contact at the CA (show
// asks it); rollover installs a key the CA accepts (show signs with the
// stored key, so a rollover that kept the old key fails it); deactivate is
// final, and a later register makes a new account.
func TestAccountCommands(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "acct.test"}}})
	ctx := t.Context()
	home := t.TempDir()
	state := filepath.Join(home, "state")
	env := baseEnv(home)

	r := zonecert(ctx, t, e.bin, env, e.accountArgs("register", state, "--email", "a@example.com")...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--agree-tos") {
		t.Fatalf("register without --agree-tos: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("a refused register created the state directory: %v", err)
	}
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("show", state, "--email", "a@example.com")...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "account register") {
		t.Fatalf("show with no account: exit %d\n%s", r.code, r.stderr)
	}

	r = zonecert(ctx, t, e.bin, env, e.accountArgs("register", state, "--email", "a@example.com", "--agree-tos")...)
	if r.code != 0 || !strings.Contains(r.stdout, "Account registered") || !strings.Contains(r.stdout, "URI:       https://") {
		t.Fatalf("register: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("register", state, "--email", "a@example.com", "--agree-tos", "--json")...)
	first := decodeJSON[accountJSON](t, "register --json", r.stdout)
	if r.code != 0 || first.URI == "" || first.Status != "valid" {
		t.Fatalf("register again: exit %d %+v\n%s", r.code, first, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("show", state, "--email", "a@example.com", "--json")...)
	shown := decodeJSON[accountJSON](t, "show --json", r.stdout)
	if r.code != 0 || shown.URI != first.URI || shown.Status != "valid" || shown.KeyType != "ec256" ||
		len(shown.Contact) != 1 || shown.Contact[0] != "mailto:a@example.com" || shown.Directory != e.pebble.DirectoryURL {
		t.Fatalf("show: exit %d %+v\n%s", r.code, shown, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("list", state, "--json")...)
	list := decodeJSON[[]accountJSON](t, "list --json", r.stdout)
	if r.code != 0 || len(list) != 1 || list[0].URI != first.URI {
		t.Fatalf("list: exit %d %+v\n%s", r.code, list, r.stderr)
	}

	// update: the CA holds the new contact; the account is found by it.
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("update", state, "--email", "a@example.com")...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--new-email") {
		t.Fatalf("update without --new-email: exit %d\n%s", r.code, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("update", state, "--email", "a@example.com", "--new-email", "b@example.com")...)
	if r.code != 0 {
		t.Fatalf("update: exit %d\n%s", r.code, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("show", state, "--email", "b@example.com", "--json")...)
	shown = decodeJSON[accountJSON](t, "show --json", r.stdout)
	if r.code != 0 || shown.URI != first.URI || len(shown.Contact) != 1 || shown.Contact[0] != "mailto:b@example.com" {
		t.Fatalf("show after update: exit %d %+v\n%s", r.code, shown, r.stderr)
	}

	// rollover: a new key on disk, and the CA takes it.
	keys, _ := filepath.Glob(filepath.Join(state, "accounts", "*", "*", "key.pem"))
	if len(keys) != 1 {
		t.Fatalf("account keys: %v", keys)
	}
	before, err := os.ReadFile(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("rollover", state, "--email", "b@example.com")...)
	if r.code != 0 || !strings.Contains(r.stdout, "Account key replaced") {
		t.Fatalf("rollover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	after, err := os.ReadFile(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before, after) {
		t.Fatal("rollover left the old key in place")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(keys[0]), "next-key.pem")); len(left) != 0 {
		t.Fatalf("rollover left %v", left)
	}
	checkModes(t, state)
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("show", state, "--email", "b@example.com", "--json")...)
	shown = decodeJSON[accountJSON](t, "show --json", r.stdout)
	if r.code != 0 || shown.Status != "valid" || shown.URI != first.URI {
		t.Fatalf("show after rollover (signed with the new key): exit %d %+v\n%s", r.code, shown, r.stderr)
	}

	// deactivate: final; a new register makes another account.
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("deactivate", state, "--email", "b@example.com")...)
	if r.code != 0 || !strings.Contains(r.stdout, "deactivated") {
		t.Fatalf("deactivate: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("rollover", state, "--email", "b@example.com")...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "deactivated") {
		t.Fatalf("rollover of a deactivated account: exit %d\n%s", r.code, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("register", state, "--email", "b@example.com", "--agree-tos", "--json")...)
	second := decodeJSON[accountJSON](t, "register --json", r.stdout)
	if r.code != 0 || second.URI == first.URI || second.Status != "valid" {
		t.Fatalf("register after deactivate: exit %d %+v\n%s", r.code, second, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, env, e.accountArgs("list", state)...)
	if r.code != 0 || !strings.Contains(r.stdout, "deactivated") || strings.Count(r.stdout, "https://") != 2 {
		t.Fatalf("list: exit %d\n%s", r.code, r.stdout)
	}
}

// TestAccountPersistObtainFromEmpty is the firewalled-host recipe from an
// empty state directory: account register, persist setup (which needs the
// account's URI), obtain with dns-persist-01 and no provider. It also
// checks that persist setup --agree-tos registers the account itself when
// none exists, and logs the wall time of the three commands.
func TestAccountPersistObtainFromEmpty(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "fw.test"}, {Name: "fw2.test"}}})
	ctx := t.Context()
	home := t.TempDir()
	start := time.Now()
	state := filepath.Join(home, "state")
	r := zonecert(ctx, t, e.bin, baseEnv(home), e.accountArgs("register", state, "--email", "e2e@example.com", "--agree-tos")...)
	if r.code != 0 {
		t.Fatalf("register: exit %d\n%s", r.code, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), e.persistArgs("setup", state, "-d", "www.fw.test", "--dns", "rfc2136")...)
	if r.code != 0 || !strings.Contains(r.stdout, "OK: every authoritative nameserver serves it") {
		t.Fatalf("persist setup: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	args := e.obtainArgs(state, "-d", "www.fw.test", "--challenge", "dns-persist-01")
	for i, a := range args {
		if a == "--dns" {
			args = append(args[:i:i], args[i+2:]...)
			break
		}
	}
	r = zonecert(ctx, t, e.bin, baseEnv(home), args...)
	if r.code != 0 {
		t.Fatalf("obtain: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("account register + persist setup + obtain --challenge dns-persist-01 from an empty state directory: %v", time.Since(start).Round(time.Millisecond))

	// persist setup --agree-tos on a fresh state directory registers.
	other := filepath.Join(home, "other")
	r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), e.persistArgs("setup", other, "-d", "www.fw2.test", "--dns", "rfc2136")...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "account register") {
		t.Fatalf("persist setup with no account: exit %d\n%s", r.code, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), e.persistArgs("setup", other, "-d", "www.fw2.test", "--dns", "rfc2136", "--agree-tos")...)
	if r.code != 0 || !strings.Contains(r.stdout, "OK: every authoritative nameserver serves it") {
		t.Fatalf("persist setup --agree-tos: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = zonecert(ctx, t, e.bin, baseEnv(home), e.accountArgs("list", other, "--json")...)
	if list := decodeJSON[[]accountJSON](t, "list --json", r.stdout); len(list) != 1 {
		t.Fatalf("accounts after persist setup --agree-tos: %+v", list)
	}
}

// TestAccountRegisterEAB registers with a CA that requires External
// Account Binding (Pebble with EAB keys): without it the error says so and
// names the flags, and nothing is stored; with --eab-kid and the MAC key
// from the environment it registers.
func TestAccountRegisterEAB(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	bin := binaries(t)
	const kid, mac = "kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	p := testenv.StartPebble(t, testenv.PebbleOptions{DNSServer: "127.0.0.1:1", EAB: map[string]string{kid: mac}}) // no validation here
	home := t.TempDir()
	bundle := filepath.Join(home, "pebble-tls.pem")
	if err := os.WriteFile(bundle, p.CABundlePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(home, "state")
	args := []string{"account", "register", "--server", p.DirectoryURL, "--ca-bundle", bundle, "--path", state,
		"--email", "eab@example.com", "--agree-tos"}
	ctx := t.Context()
	r := zonecert(ctx, t, bin, baseEnv(home), args...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "requires External Account Binding") || !strings.Contains(r.stderr, "--eab-kid") {
		t.Fatalf("register without EAB: exit %d\n%s", r.code, r.stderr)
	}
	if keys, _ := filepath.Glob(filepath.Join(state, "accounts", "*", "*", "key.pem")); len(keys) != 0 {
		t.Fatalf("a refused register stored %v", keys)
	}
	r = zonecert(ctx, t, bin, baseEnv(home, "ZONECERT_EAB_HMAC="+mac), append(args, "--eab-kid", kid)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Account registered") {
		t.Fatalf("register with EAB: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
