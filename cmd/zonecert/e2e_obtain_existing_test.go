package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zonecert/zonecert/internal/testenv"
)

// TestObtainExistingLineage is certbot's behaviour for an obtain of a
// lineage that exists, through the real binary: the same names and not due
// orders nothing and exits 0 ("not due for renewal"); --force orders;
// fewer names are refused (exit 2) and so are more without --expand; with
// --expand the certificate gains the names. A refused or idle run changes
// no file.
func TestObtainExistingLineage(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "keep.test"}}})
	ctx := t.Context()
	home := t.TempDir()
	state := filepath.Join(home, "state")
	env := e.rfc2136Env(home)
	obtain := func(extra ...string) runResult {
		return zonecert(ctx, t, e.bin, env, e.obtainArgs(state, append([]string{"--cert-name", "keep"}, extra...)...)...)
	}
	versions := func() int {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(state, "archive", "keep"))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	two := []string{"-d", "www.keep.test", "-d", "api.keep.test"}
	mustOK(t, "first obtain", obtain(two...))
	if versions() != 1 {
		t.Fatalf("%d versions after the first obtain", versions())
	}

	before := snapshot(t, state)
	r := obtain("-d", "API.keep.test", "-d", "www.keep.test")
	if r.code != 0 || !strings.Contains(r.stdout, "not due for renewal") {
		t.Fatalf("same obtain again: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = obtain(append(two, "--json")...)
	if nd := decodeJSON[notDue](t, "--json", r.stdout); r.code != 0 || !nd.NotDue || nd.CertName != "keep" || nd.RenewAt.IsZero() {
		t.Fatalf("same obtain --json: exit %d %+v", r.code, nd)
	}
	r = obtain("-d", "www.keep.test")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("fewer names: exit %d\n%s", r.code, r.stderr)
	}
	r = obtain(append(two, "-d", "new.keep.test")...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--expand") {
		t.Fatalf("more names without --expand: exit %d\n%s", r.code, r.stderr)
	}
	// The renewal check may refresh the plan's cached renewal window; no
	// certificate, key or link changes.
	after := snapshot(t, state)
	for _, m := range []map[string]string{before, after} {
		for k := range m {
			if strings.HasPrefix(k, "renewal/") {
				delete(m, k)
			}
		}
	}
	sameSnapshot(t, "obtains that ordered nothing", before, after)
	if versions() != 1 {
		t.Fatalf("%d versions after obtains that ordered nothing", versions())
	}

	mustOK(t, "obtain --force", obtain(append(two, "--force")...))
	if versions() != 2 {
		t.Fatalf("%d versions after --force", versions())
	}
	mustOK(t, "obtain --expand", obtain(append(two, "-d", "new.keep.test", "--expand")...))
	leaf := liveLeaf(t, state, "keep")
	got := slices.Sorted(slices.Values(leaf.DNSNames))
	if want := []string{"api.keep.test", "new.keep.test", "www.keep.test"}; !slices.Equal(got, want) {
		t.Fatalf("after --expand the certificate names %v, want %v", got, want)
	}
}
