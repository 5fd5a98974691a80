//go:build unix

package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// outside makes a directory beside the state directory holding one file,
// and returns the directory and the file's path.
func outside(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.MkdirAll(filepath.Join(dir, "1"), 0o700); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "1", CertFile)
	if err := os.WriteFile(f, []byte("not zonecert's"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, f
}

func plant(t *testing.T, s *FS, key, target string) string {
	t.Helper()
	p := filepath.Join(s.Root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantSymlinkErr fails unless err is ErrSymlink naming the planted link.
func wantSymlinkErr(t *testing.T, what string, err error, link string) {
	t.Helper()
	if !errors.Is(err, ErrSymlink) || !strings.Contains(err.Error(), link) {
		t.Errorf("%s = %v, want ErrSymlink naming %s", what, err, link)
	}
}

func intact(t *testing.T, f string) {
	t.Helper()
	if b, err := os.ReadFile(f); err != nil || string(b) != "not zonecert's" {
		t.Errorf("file outside the state directory: %q, %v", b, err)
	}
}

// A link planted at archive/<name> (the reproduced attack on delete) is
// refused by every operation, and nothing behind it is read, written,
// listed or deleted.
func TestFSRefusesPlantedArchiveLink(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	dir, f := outside(t)
	link := plant(t, s, ArchiveKey("x"), dir)
	if _, err := s.List(ctx, ArchiveKey("x")); true {
		wantSymlinkErr(t, "List(archive/x)", err, link)
	}
	if _, err := s.List(ctx, "archive/x/1"); true {
		wantSymlinkErr(t, "List(archive/x/1)", err, link)
	}
	_, err := s.Get(ctx, "archive/x/1/"+CertFile)
	wantSymlinkErr(t, "Get", err, link)
	wantSymlinkErr(t, "Delete", s.Delete(ctx, "archive/x/1/"+CertFile), link)
	wantSymlinkErr(t, "Delete dir", s.Delete(ctx, "archive/x/1"), link)
	wantSymlinkErr(t, "Put", s.Put(ctx, "archive/x/1/"+CertFile, []byte("zonecert's"), false), link)
	wantSymlinkErr(t, "PutSet", s.PutSet(ctx, LiveKey("x"), certSet("v1")), link)
	intact(t, f)
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("PutSet wrote into the linked directory: %v", ents)
	}
	if _, err := os.Lstat(filepath.Join(s.Root, LiveDir, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused PutSet made live/x: %v", err)
	}
}

// Links to files, to directories inside the state directory, at a top
// directory or at live/<name> pointing anywhere but its own archive are
// all refused; the set links PutSet makes keep working.
func TestFSRefusesOtherLinks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	_, f := outside(t)
	if err := s.PutSet(ctx, LiveKey("good"), certSet("v1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, RenewalKey("good"), []byte("{}"), false); err != nil {
		t.Fatal(err)
	}

	plan := plant(t, s, RenewalKey("file"), f)
	_, err := s.Get(ctx, RenewalKey("file"))
	wantSymlinkErr(t, "Get of a linked file", err, plan)
	wantSymlinkErr(t, "Put over a linked file", s.Put(ctx, RenewalKey("file"), []byte("x"), false), plan)
	wantSymlinkErr(t, "Delete of a linked file", s.Delete(ctx, RenewalKey("file")), plan)
	intact(t, f)

	inside := plant(t, s, RenewalKey("inside"), "good.json")
	_, err = s.Get(ctx, RenewalKey("inside"))
	wantSymlinkErr(t, "Get of a link inside the state directory", err, inside)

	live := plant(t, s, LiveKey("evil"), filepath.Dir(f))
	_, err = s.Get(ctx, LiveFileKey("evil", CertFile))
	wantSymlinkErr(t, "Get through a live link to elsewhere", err, live)
	_, err = s.List(ctx, LiveKey("evil"))
	wantSymlinkErr(t, "List of a live link to elsewhere", err, live)
	wantSymlinkErr(t, "PutSet over a live link to elsewhere", s.PutSet(ctx, LiveKey("evil"), certSet("v1")), live)
	// live/<name> pointing at another name's archive is not the link
	// PutSet made either.
	other := plant(t, s, LiveKey("other"), "../archive/good/1")
	_, err = s.Get(ctx, LiveFileKey("other", CertFile))
	wantSymlinkErr(t, "Get through a live link to another archive", err, other)

	s2 := newFS(t)
	accounts := plant(t, s2, AccountsDir, filepath.Dir(filepath.Dir(f)))
	wantSymlinkErr(t, "Put under a linked top directory", s2.Put(ctx, AccountKey("ca", "1")+"/key.pem", []byte("k"), true), accounts)
	locks := plant(t, s2, "locks", filepath.Dir(filepath.Dir(f)))
	_, err = s2.TryLock(ctx, "cert-x", 0)
	wantSymlinkErr(t, "TryLock under a linked locks/", err, locks)
	intact(t, f)

	// The set PutSet made still reads, lists and deletes.
	if b, err := s.Get(ctx, LiveFileKey("good", CertFile)); err != nil || string(b) != "cert v1" {
		t.Errorf("Get through zonecert's own link = %q, %v", b, err)
	}
	if names, err := s.List(ctx, LiveKey("good")); err != nil || len(names) != 4 {
		t.Errorf("List of zonecert's own link = %v, %v", names, err)
	}
	if err := s.PutSet(ctx, LiveKey("good"), certSet("v2")); err != nil {
		t.Errorf("second PutSet: %v", err)
	}
	if err := s.Delete(ctx, LiveKey("good")); err != nil {
		t.Errorf("Delete of zonecert's own link: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, ArchiveDir, "good", "2", CertFile)); err != nil {
		t.Errorf("deleting the link removed its target: %v", err)
	}
}

// A set link whose archive directory was replaced by a link is refused
// too: the target is checked like a key.
func TestFSRefusesLinkBehindSetLink(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	dir, f := outside(t)
	if err := s.PutSet(ctx, LiveKey("x"), certSet("v1")); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(s.Root, ArchiveDir, "x")
	if err := os.RemoveAll(archive); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, archive); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, LiveFileKey("x", CertFile))
	wantSymlinkErr(t, "Get", err, archive)
	intact(t, f)
}
