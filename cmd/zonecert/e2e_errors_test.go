package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zonecert/zonecert/internal/testenv"
)

// TestStateDirectoryErrors: a state directory that is a file is named in
// the error, with exit 1, by every command that uses it, before anything
// else reads it (no "reading deploy hooks").
func TestStateDirectoryErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := binaries(t)
	ctx := t.Context()
	home := t.TempDir()
	state := filepath.Join(home, "state")
	if err := os.WriteFile(state, []byte("not a directory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"obtain", "--agree-tos", "--dns", "rfc2136", "--dns-resolver", "127.0.0.1", "-d", "www.example.test", "--path", state},
		{"certificates", "--path", state},
		{"account", "list", "--path", state},
		{"account", "show", "--email", "a@example.com", "--path", state},
		{"persist", "show", "-d", "www.example.test", "--dns-resolver", "127.0.0.1", "--path", state},
	} {
		r := zonecert(ctx, t, bin, baseEnv(home), args...)
		if r.code != exitInternal || !strings.Contains(r.stderr, "state directory "+state+": not a directory") {
			t.Errorf("%s: exit %d\n%s", strings.Join(args[:2], " "), r.code, r.stderr)
		}
	}
}

// TestRefusedObtainWritesNothing: an obtain refused for want of
// --agree-tos (a CA with terms of service, no stored account) exits 2 and
// creates no state directory, no locks/.
func TestRefusedObtainWritesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	bin := binaries(t)
	p := testenv.StartPebble(t, testenv.PebbleOptions{DNSServer: "127.0.0.1:1"}) // nothing is validated
	home := t.TempDir()
	bundle := filepath.Join(home, "pebble-tls.pem")
	if err := os.WriteFile(bundle, p.CABundlePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(home, "state")
	r := zonecert(t.Context(), t, bin, baseEnv(home), "obtain", "--server", p.DirectoryURL, "--ca-bundle", bundle,
		"--challenge", "dns-persist-01", "--dns-resolver", "127.0.0.1", "-d", "www.example.test", "--path", state)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--agree-tos") {
		t.Fatalf("obtain without --agree-tos: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(state)
		t.Fatalf("a refused obtain left the state directory (%v): %v", err, entries)
	}
}

// TestCertificatesUnknownName: `certificates NAME` of a name that is not
// stored exits 2, as revoke and delete do.
func TestCertificatesUnknownName(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := binaries(t)
	home := t.TempDir()
	r := zonecert(t.Context(), t, bin, baseEnv(home), "certificates", "nosuch.example.test", "--path", filepath.Join(home, "state"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "no certificate named nosuch.example.test") {
		t.Fatalf("certificates of an unknown name: exit %d\n%s", r.code, r.stderr)
	}
}

// TestKeyTypeErrorListsHelpNames: a bad --key-type is refused (exit 2)
// with the names obtain --help lists.
func TestKeyTypeErrorListsHelpNames(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := binaries(t)
	home := t.TempDir()
	r := zonecert(t.Context(), t, bin, baseEnv(home), "obtain", "--agree-tos", "--dns", "rfc2136", "--dns-resolver", "127.0.0.1",
		"-d", "www.example.test", "--key-type", "ec521", "--path", filepath.Join(home, "state"))
	help := zonecert(t.Context(), t, bin, baseEnv(home), "obtain", "--help")
	if r.code != exitUsage || !strings.Contains(r.stderr, `unknown key type "ec521"`) {
		t.Fatalf("--key-type ec521: exit %d\n%s", r.code, r.stderr)
	}
	for _, name := range []string{"ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"} {
		if !strings.Contains(r.stderr, name) || !strings.Contains(help.stdout, name) {
			t.Errorf("%s is not in both the error and the help:\n%s", name, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "ecdsa-p256") {
		t.Errorf("the error uses a name the help does not: %s", r.stderr)
	}
}
