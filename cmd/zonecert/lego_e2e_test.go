package main

import (
	"context"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// legoArgs are obtainArgs with --dns lego.
func (e *e2eEnv) legoArgs(path string, extra ...string) []string {
	args := e.obtainArgs(path, extra...)
	for i := range args {
		if args[i] == "rfc2136" && args[i-1] == "--dns" {
			args[i] = "lego"
		}
	}
	return args
}

// TestLegoEndToEnd issues a wildcard plus apex certificate through the
// lego bridge (lego's dnsupdate provider, which holds one value per name:
// two rounds) against Pebble and BIND9 with a lagging secondary, and
// checks nothing is left behind and the TSIG secret appears in no log or
// state file.
func TestLegoEndToEnd(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}, Secondary: true, SecondaryLag: 2 * time.Second})
	if _, err := os.Stat(filepath.Join(e.bin, "zonecert-dns-lego")); err != nil {
		t.Skip("zonecert-dns-lego not built (make build)")
	}
	t.Run("wildcard and apex", func(t *testing.T) {
		ctx := t.Context()
		home := t.TempDir()
		state := filepath.Join(home, "state")
		env := baseEnv(home,
			"LEGO_PROVIDER=dnsupdate",
			"DNSUPDATE_NAMESERVER="+netip.AddrPortFrom(e.bind.Primary, 53).String(),
			"DNSUPDATE_TSIG_KEY="+e.bind.TSIGKey,
			"DNSUPDATE_TSIG_SECRET="+e.bind.TSIGSecret,
			"DNSUPDATE_TSIG_ALGORITHM="+e.bind.TSIGAlgorithm,
		)
		r := zonecert(ctx, t, e.bin, env, append(e.legoArgs(state, "--log-level", "debug"), "-d", "*.example.test", "-d", "example.test")...)
		if r.code != 0 {
			t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
		}
		verifyChain(ctx, t, e.pebble, filepath.Join(state, "live", "_.example.test", "fullchain.pem"), []string{"*.example.test", "example.test"})
		e.noTXT(ctx, t, "_acme-challenge.example.test.")
		// The secondary lags: zonecert does not wait for removals to
		// spread, so give it the lag and then some.
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		for {
			vals, err := e.bind.TXT(wctx, e.bind.Secondary, "_acme-challenge.example.test.")
			if err == nil && len(vals) == 0 {
				break
			}
			if wctx.Err() != nil {
				t.Fatalf("secondary still serves TXT %q (%v)", vals, err)
			}
			select {
			case <-wctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		if ents, _ := os.ReadDir(filepath.Join(state, "journal")); len(ents) > 0 {
			t.Errorf("journal not empty after success: %d entries", len(ents))
		}
		secret := e.bind.TSIGSecret
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Error("the TSIG secret appears in zonecert's output")
		}
		_ = filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), secret) {
				t.Errorf("the TSIG secret appears in %s", p)
			}
			return nil
		})
	})
	t.Run("missing lego setting", func(t *testing.T) {
		ctx := t.Context()
		home := t.TempDir()
		state := filepath.Join(home, "state")
		r := zonecert(ctx, t, e.bin, baseEnv(home, "LEGO_PROVIDER=digitalocean"), append(e.legoArgs(state), "-d", "example.test")...)
		if r.code == 0 || !strings.Contains(r.stderr, "DO_AUTH_TOKEN") {
			t.Fatalf("exit %d; want a refusal naming DO_AUTH_TOKEN\nstderr:\n%s", r.code, r.stderr)
		}
		// Refused before any order: no account was even registered.
		if _, err := os.Stat(filepath.Join(state, "accounts")); err == nil {
			t.Error("an account was registered before the provider was refused")
		}
	})
}

// TestPluginsListsLegoProviders: `zonecert plugins` lists the providers the
// lego bridge hosts, each with its variables, the secret ones apart.
func TestPluginsListsLegoProviders(t *testing.T) {
	bin := binaries(t)
	if _, err := os.Stat(filepath.Join(bin, "zonecert-dns-lego")); err != nil {
		t.Skip("zonecert-dns-lego not built (make build)")
	}
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(bin, "zonecert-dns-lego"), filepath.Join(dir, "zonecert-dns-lego")); err != nil {
		t.Fatal(err)
	}
	var lego *pluginInfo
	for _, p := range listPlugins(t, "--plugin-dir", dir, "--path", filepath.Join(t.TempDir(), "state")) {
		if p.Name == "lego" {
			lego = &p
		}
	}
	if lego == nil || lego.Selector != "LEGO_PROVIDER" || len(lego.Providers) < 200 {
		t.Fatalf("lego listed as %+v", lego)
	}
	for _, p := range lego.Providers {
		if p.Name == "digitalocean" {
			if !slices.Contains(p.SecretEnv, "DO_AUTH_TOKEN") || !slices.Contains(p.Env, "DO_TTL") {
				t.Fatalf("digitalocean listed as %+v", p)
			}
			return
		}
	}
	t.Fatal("digitalocean is not listed")
}
