package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"
)

func testFS(mtime time.Time) fstest.MapFS {
	// The files' own times and order differ between the two trees; the
	// archives must not.
	return fstest.MapFS{
		"pkg/zonecert":      {Data: []byte("binary"), Mode: 0o755, ModTime: mtime},
		"pkg/README.md":     {Data: []byte("readme"), Mode: 0o600, ModTime: mtime.Add(time.Hour)},
		"pkg/man/man1/z.1":  {Data: []byte(".TH"), Mode: 0o644, ModTime: mtime.Add(2 * time.Hour)},
		"pkg/systemd/a.svc": {Data: []byte("[Unit]"), Mode: 0o640, ModTime: mtime},
	}
}

// Two packs of the same content, with different file times and modes on
// disk, give the same bytes; entries are sorted, dated at the given time,
// owned by root, and executable only where the file was.
func TestPackReproducible(t *testing.T) {
	at := time.Unix(1700000000, 0).UTC()
	for _, ext := range []string{".tar.gz", ".zip"} {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a"+ext), filepath.Join(dir, "b"+ext)
		if err := pack(a, testFS(time.Now()), "pkg", at); err != nil {
			t.Fatal(err)
		}
		if err := pack(b, testFS(time.Now().Add(-time.Hour)), "pkg", at); err != nil {
			t.Fatal(err)
		}
		ra, _ := os.ReadFile(a)
		rb, _ := os.ReadFile(b)
		if !bytes.Equal(ra, rb) {
			t.Errorf("%s: two packs differ", ext)
		}
		want := []string{"pkg/", "pkg/README.md", "pkg/man/", "pkg/man/man1/", "pkg/man/man1/z.1", "pkg/systemd/", "pkg/systemd/a.svc", "pkg/zonecert"}
		var got []string
		check := func(name string, mod time.Time, perm os.FileMode, uid int) {
			got = append(got, name)
			if !mod.Equal(at) {
				t.Errorf("%s %s: mtime %v, want %v", ext, name, mod, at)
			}
			wantPerm := os.FileMode(0o644)
			if name == "pkg/zonecert" || name[len(name)-1] == '/' {
				wantPerm = 0o755
			}
			if perm != wantPerm || uid != 0 {
				t.Errorf("%s %s: mode %o uid %d, want %o uid 0", ext, name, perm, uid, wantPerm)
			}
		}
		if ext == ".zip" {
			zr, err := zip.NewReader(bytes.NewReader(ra), int64(len(ra)))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range zr.File {
				check(f.Name, f.Modified.UTC(), f.Mode().Perm(), 0)
			}
		} else {
			gz, err := gzip.NewReader(bytes.NewReader(ra))
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(gz)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				check(h.Name, h.ModTime.UTC(), os.FileMode(h.Mode).Perm(), h.Uid)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s entries %v, want %v", ext, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s entries %v, want %v (sorted)", ext, got, want)
				break
			}
		}
	}
}
