package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// smallDisk mounts a tmpfs of the given size for the test and returns its
// path; it is unmounted when the test ends. It needs root, as the BIND9
// tests do.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("mounts a tmpfs: needs root")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		t.Fatalf("mounting a %s tmpfs (run the tests as root, or with -short): %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file until the disk is full, then frees free bytes of it.
func fill(t *testing.T, dir string, free int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{'x'}, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	if err := f.Truncate(fi.Size()/page*page - free); err != nil {
		t.Fatal(err)
	}
	return path
}

// bigSet is a certificate set whose members take two pages each, so that
// with two pages free the first member fits and the second does not.
func bigSet(v string) map[string]File {
	set := certSet(v)
	for name, f := range set {
		f.Data = append(f.Data, bytes.Repeat([]byte{'.'}, 6<<10)...)
		set[name] = f
	}
	return set
}

// TestDiskFullKeepsLiveSet fills a real (tmpfs) disk while a renewed
// certificate is stored: the store fails with ENOSPC midway through the new
// set, the live certificate stays the old one, intact, with no temp
// directory or partial version beside it, a single-file Put fails the same
// way without a temp file, and once space is freed the next store works.
func TestDiskFullKeepsLiveSet(t *testing.T) {
	disk := smallDisk(t, "1m")
	ctx := t.Context()
	s, err := NewFS(filepath.Join(disk, "state"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSet(ctx, "live/example.com", bigSet("good")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "accounts/ca/acct/account.json", []byte(`{"v":1}`), false); err != nil {
		t.Fatal(err)
	}
	filler := fill(t, disk, 2*4096)

	err = s.PutSet(ctx, "live/example.com", bigSet("new"))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("PutSet on a full disk = %v, want ENOSPC", err)
	}
	checkOnlyVersions(t, s, "example.com", "1")
	for name, data := range readSet(t, s, "live/example.com") {
		if want := string(bigSet("good")[name].Data); data != want {
			t.Errorf("live %s changed on a full disk (%d bytes, want %d)", name, len(data), len(want))
		}
	}
	if target, err := os.Readlink(filepath.Join(s.Root, "live/example.com")); err != nil || !strings.HasSuffix(target, "/1") {
		t.Errorf("live/example.com links to %q (%v), want version 1", target, err)
	}

	if err := s.Put(ctx, "accounts/ca/acct/account.json", bytes.Repeat([]byte{'y'}, 16<<10), false); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put on a full disk = %v, want ENOSPC", err)
	}
	if b, err := s.Get(ctx, "accounts/ca/acct/account.json"); err != nil || string(b) != `{"v":1}` {
		t.Errorf("account after a failed Put = %q, %v", b, err)
	}
	ents, err := os.ReadDir(filepath.Join(s.Root, "accounts/ca/acct"))
	if err != nil || len(ents) != 1 {
		t.Errorf("account directory holds %v (%v), want account.json only", ents, err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSet(ctx, "live/example.com", bigSet("new")); err != nil {
		t.Fatalf("PutSet once space is free: %v", err)
	}
	if got := readSet(t, s, "live/example.com")["cert.pem"]; got != string(bigSet("new")["cert.pem"].Data) {
		t.Error("the store after the full disk did not make the new set live")
	}
	checkOnlyVersions(t, s, "example.com", "1", "2")
}
