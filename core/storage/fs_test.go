package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func newFS(t *testing.T) *FS {
	t.Helper()
	s, err := NewFS(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestPutGetListDelete(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	if _, err := s.Get(ctx, "accounts/ca/1/account.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get absent = %v, want ErrNotFound", err)
	}
	if err := s.Put(ctx, "accounts/ca/1/key.pem", []byte("k1"), true); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "accounts/ca/1/account.json", []byte("{}"), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "accounts/ca/1/key.pem", []byte("k2"), true); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "accounts/ca/1/key.pem")
	if err != nil || string(got) != "k2" {
		t.Fatalf("Get = %q, %v; want k2", got, err)
	}
	names, err := s.List(ctx, "accounts/ca/1")
	if err != nil || !slices.Equal(names, []string{"account.json", "key.pem"}) {
		t.Fatalf("List = %v, %v (temp files must not show)", names, err)
	}
	if m := mode(t, filepath.Join(s.Root, "accounts/ca/1/key.pem")); m != 0o600 {
		t.Errorf("key mode %v, want 0600", m)
	}
	for _, d := range []string{"accounts", "accounts/ca", "accounts/ca/1"} {
		if m := mode(t, filepath.Join(s.Root, d)); m != 0o700 {
			t.Errorf("dir %s mode %v, want 0700", d, m)
		}
	}
	if err := s.Delete(ctx, "accounts/ca/1/key.pem"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "accounts/ca/1/key.pem"); err != nil {
		t.Fatalf("second Delete = %v, want nil", err)
	}
	if _, err := s.Get(ctx, "accounts/ca/1/key.pem"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get deleted = %v", err)
	}
	if err := s.Delete(ctx, "never/was/here"); err != nil {
		t.Fatalf("Delete in absent dir = %v", err)
	}
	if names, err := s.List(ctx, "nothing/here"); err != nil || len(names) != 0 {
		t.Fatalf("List absent = %v, %v", names, err)
	}
}

func TestInvalidKeys(t *testing.T) {
	t.Parallel()
	s := newFS(t)
	for _, k := range []string{"", "/abs", "a//b", "../x", "a/../b", "a/.hidden", "a/b c", "a\\b", "a/b\x00"} {
		if err := s.Put(t.Context(), k, nil, false); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
	if got := SafeSegment("localhost:14000"); got != "localhost_14000" {
		t.Errorf("SafeSegment = %q", got)
	}
	if got := SafeSegment(".x/y"); ValidateKey(got) != nil {
		t.Errorf("SafeSegment(.x/y) = %q is not a valid key", got)
	}
}

func certSet(v string) map[string]File {
	return map[string]File{
		"cert.pem":      {Data: []byte("cert " + v)},
		"chain.pem":     {Data: []byte("chain " + v)},
		"fullchain.pem": {Data: []byte("fullchain " + v)},
		"privkey.pem":   {Data: []byte("key " + v), Private: true},
	}
}

func readSet(t *testing.T, s *FS, key string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name := range certSet("") {
		b, err := s.Get(t.Context(), key+"/"+name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(b)
	}
	return out
}

func TestPutSetSwapsWholeSet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	for _, v := range []string{"v1", "v2"} {
		if err := s.PutSet(ctx, "live/_.example.com", certSet(v)); err != nil {
			t.Fatal(err)
		}
		for name, data := range readSet(t, s, "live/_.example.com") {
			if want := string(certSet(v)[name].Data); data != want {
				t.Errorf("%s = %q, want %q", name, data, want)
			}
		}
	}
	live := filepath.Join(s.Root, "live/_.example.com")
	if m := mode(t, filepath.Join(live, "privkey.pem")); m != 0o600 {
		t.Errorf("privkey mode %v, want 0600", m)
	}
	for _, d := range []string{"live", "archive", "archive/_.example.com", "archive/_.example.com/2"} {
		if m := mode(t, filepath.Join(s.Root, d)); m != 0o700 {
			t.Errorf("dir %s mode %v, want 0700", d, m)
		}
	}
	// The history keeps version 1 intact.
	if b, err := os.ReadFile(filepath.Join(s.Root, "archive/_.example.com/1/cert.pem")); err != nil || string(b) != "cert v1" {
		t.Errorf("archive v1 = %q, %v", b, err)
	}
	if names, err := s.List(ctx, "live"); err != nil || !slices.Equal(names, []string{"_.example.com"}) {
		t.Errorf("List(live) = %v, %v", names, err)
	}
	// LocalPath names the file that Get reads, through the live link.
	p, ok := s.LocalPath(LiveFileKey("_.example.com", CertFile))
	if b, err := os.ReadFile(p); !ok || err != nil || string(b) != "cert v2" {
		t.Errorf("LocalPath = %q, %v: %q, %v", p, ok, b, err)
	}
	if _, ok := s.LocalPath("../x"); ok {
		t.Error("LocalPath accepted a bad key")
	}
}

// A crash after the new files are written but before the swap must leave
// the old set complete and readable, and the next write must succeed.
func TestPutSetCrashKeepsOldSet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	if err := s.PutSet(ctx, "live/example.com", certSet("good")); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("simulated crash")
	s.beforeSwap = func() error { return crash }
	if err := s.PutSet(ctx, "live/example.com", certSet("new")); !errors.Is(err, crash) {
		t.Fatalf("PutSet = %v, want the crash", err)
	}
	for name, data := range readSet(t, s, "live/example.com") {
		if want := string(certSet("good")[name].Data); data != want {
			t.Errorf("after crash %s = %q, want %q", name, data, want)
		}
	}
	s.beforeSwap = nil
	if err := s.PutSet(ctx, "live/example.com", certSet("v3")); err != nil {
		t.Fatal(err)
	}
	if got := readSet(t, s, "live/example.com")["privkey.pem"]; got != "key v3" {
		t.Errorf("after recovery privkey = %q", got)
	}
}

// A write that fails midway, after one member is on disk and halfway
// through the next (as when the disk fills), leaves the old set intact, no
// temp directory and no partial version behind, and the next write works.
func TestPutSetPartialWriteKeepsOldSet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	if err := s.PutSet(ctx, "live/example.org", certSet("good")); err != nil {
		t.Fatal(err)
	}
	bad := certSet("new")
	bad["x/y"] = File{Data: []byte("bad name")}
	if err := s.PutSet(ctx, "live/example.org", bad); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("PutSet bad member = %v", err)
	}
	written := 0
	s.writeFile = func(r *os.Root, path string, data []byte, mode os.FileMode) error {
		if written++; written < 2 {
			return writeFileSync(r, path, data, mode)
		}
		// Half the file reaches the disk, then the disk is full.
		if err := r.WriteFile(path, data[:len(data)/2], mode); err != nil {
			return err
		}
		return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
	}
	if err := s.PutSet(ctx, "live/example.org", certSet("new")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("PutSet with the disk filling up = %v, want ENOSPC", err)
	}
	if written != 2 {
		t.Fatalf("%d members written; the failure must come midway", written)
	}
	checkOnlyVersions(t, s, "example.org", "1")
	for name, data := range readSet(t, s, "live/example.org") {
		if want := string(certSet("good")[name].Data); data != want {
			t.Errorf("%s = %q, want %q", name, data, want)
		}
	}
	s.writeFile = nil
	if err := s.PutSet(ctx, "live/example.org", certSet("v2")); err != nil {
		t.Fatal(err)
	}
	if got := readSet(t, s, "live/example.org")["cert.pem"]; got != "cert v2" {
		t.Errorf("after the failed write, the next one gave cert.pem %q", got)
	}
}

// checkOnlyVersions fails unless archive/<name> holds exactly the given
// version directories: no temp directory, no partial version.
func checkOnlyVersions(t *testing.T, s *FS, name string, versions ...string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Root, "archive", name))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, versions) {
		t.Errorf("archive/%s holds %q, want only %q", name, got, versions)
	}
}

func TestLockExcludes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	l, err := s.Lock(ctx, "cert-example.com", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(short, "cert-example.com", time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock = %v, want deadline exceeded", err)
	}
	other, err := s.Lock(ctx, "cert-other", time.Minute)
	if err != nil {
		t.Fatalf("independent lock: %v", err)
	}
	_ = other.Release(ctx)
	got := make(chan error, 1)
	go func() {
		l2, err := s.Lock(ctx, "cert-example.com", time.Minute)
		if err == nil {
			err = l2.Release(ctx)
		}
		got <- err
	}()
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("double release: %v", err)
	}
}
