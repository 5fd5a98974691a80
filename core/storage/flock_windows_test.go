package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// LockFileEx belongs to a handle, as flock belongs to an open file: a
// second handle in the same process is refused until the first closes, and
// the file can be removed while locked (FILE_SHARE_DELETE), which Release
// relies on. The cross-process case is TestTryLockSeesHolderDie.
func TestWindowsLockPerHandle(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	a, err := openLockFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if held, err := tryFlock(a); err != nil || !held {
		t.Fatalf("first lock: held %v, %v", held, err)
	}
	b, err := openLockFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if held, err := tryFlock(b); err != nil || held {
		t.Fatalf("second handle: held %v, %v; want refused", held, err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatalf("removing a held lock file: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if held, err := tryFlock(b); err != nil || !held {
		t.Fatalf("after the holder closed: held %v, %v", held, err)
	}
}
