package dns01

import (
	"os"
	"path/filepath"
	"testing"
)

func TestJournals(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "journal")
	for name, j := range map[string]Journal{"mem": &MemJournal{}, "dir": DirJournal{Dir: dir}} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			if m, err := j.List(ctx); err != nil || len(m) != 0 {
				t.Fatalf("empty List = %v, %v", m, err)
			}
			if err := j.Put(ctx, "abc-1", []byte(`{"a":1}`)); err != nil {
				t.Fatal(err)
			}
			if err := j.Put(ctx, "abc-1", []byte(`{"a":2}`)); err != nil {
				t.Fatal(err)
			}
			if err := j.Put(ctx, "def", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			m, err := j.List(ctx)
			if err != nil || len(m) != 2 || string(m["abc-1"]) != `{"a":2}` {
				t.Fatalf("List = %q, %v", m, err)
			}
			if err := j.Delete(ctx, "def"); err != nil {
				t.Fatal(err)
			}
			if err := j.Delete(ctx, "def"); err != nil {
				t.Errorf("deleting an absent key: %v", err)
			}
			if m, _ := j.List(ctx); len(m) != 1 {
				t.Errorf("after Delete: %q", m)
			}
		})
	}
	if err := (DirJournal{Dir: dir}).Put(t.Context(), "../escape", nil); err == nil {
		t.Error("DirJournal accepted a key with a path")
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "abc-1.json"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v; want %v", path, fi.Mode().Perm(), want)
		}
	}
}
