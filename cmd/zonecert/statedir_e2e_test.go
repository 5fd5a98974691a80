package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The reproduced attack: archive/<name> is a link to another directory.
// zonecert delete must refuse it, name the link, and delete nothing, in
// the linked directory or in the lineage.
func TestDeleteRefusesLinkedArchive(t *testing.T) {
	t.Parallel()
	bin := binaries(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	home := t.TempDir()
	state := filepath.Join(home, "state")
	victim := filepath.Join(home, "victim")
	for _, d := range []string{filepath.Join(victim, "1"), filepath.Join(state, "live", "x"), filepath.Join(state, "archive")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	precious := filepath.Join(victim, "1", "cert.pem")
	live := filepath.Join(state, "live", "x", "cert.pem")
	for _, f := range []string{precious, live} {
		if err := os.WriteFile(f, []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(state, "archive", "x")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	r := zonecert(ctx, t, bin, baseEnv(home), "delete", "--cert-name", "x", "--yes", "--path", state)
	if r.code == 0 {
		t.Fatalf("delete through a linked archive succeeded:\n%s%s", r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, link) || !strings.Contains(r.stderr, "symbolic link") {
		t.Errorf("the error does not name the link %s:\n%s", link, r.stderr)
	}
	for _, f := range []string{precious, live} {
		if b, err := os.ReadFile(f); err != nil || string(b) != "keep" {
			t.Errorf("%s after the refused delete: %q, %v", f, b, err)
		}
	}
}
