package storage

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain lets the test binary act as a lock holder in another process:
// with ZONECERT_TEST_HOLD_LOCK=<root>:<name> it takes the lock, says so on
// stdout and waits to be killed.
func TestMain(m *testing.M) {
	if v := os.Getenv("ZONECERT_TEST_HOLD_LOCK"); v != "" {
		root, name := filepath.Dir(v), filepath.Base(v)
		s := &FS{Root: root}
		if _, err := s.TryLock(context.Background(), name, time.Minute); err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("held\n")
		select {}
	}
	os.Exit(m.Run())
}

// A lock held by another process is ErrLocked to TryLock until that
// process dies; then it is free, without any release.
func TestTryLockSeesHolderDie(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ZONECERT_TEST_HOLD_LOCK="+filepath.Join(s.Root, "owner-abc"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "held\n" {
		t.Fatalf("holder said %q, %v", line, err)
	}
	if _, err := s.TryLock(ctx, "owner-abc", time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatalf("TryLock of a live holder's lock = %v, want ErrLocked", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	l, err := s.TryLock(ctx, "owner-abc", time.Minute)
	if err != nil {
		t.Fatalf("TryLock after the holder died = %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "locks", "owner-abc.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after Release: %v, want it removed", err)
	}
}

// Two holders in one process exclude each other too (the engine's orders
// in one renew run rely on it).
func TestTryLockInProcess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	l, err := s.TryLock(ctx, "owner-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TryLock(ctx, "owner-1", time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock = %v, want ErrLocked", err)
	}
	if _, err := s.TryLock(ctx, "bad/name", time.Minute); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("TryLock(bad/name) = %v, want ErrInvalidKey", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l, err = s.TryLock(ctx, "owner-1", time.Minute)
	if err != nil {
		t.Fatalf("TryLock after Release = %v", err)
	}
	_ = l.Release(ctx)
}

// Removing the lock file on Release must not let two holders in: waiters
// that opened the old file reopen the path. Many goroutines take one lock
// and count how many are inside at once.
func TestLockRemovedOnReleaseStillExcludes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	var inside, most atomic.Int32
	most.Store(1)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for range 20 {
				l, err := s.Lock(ctx, OwnerLock("x"), time.Minute) // an owner lock's file goes on Release
				if err != nil {
					errs <- err
					return
				}
				if inside.Add(1) > 1 {
					most.Store(2)
				}
				time.Sleep(time.Microsecond) // widen the window a second holder would use
				inside.Add(-1)
				if err := l.Release(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if most.Load() != 1 {
		t.Errorf("%d holders at once, want 1", most.Load())
	}
}

// Locks other than owner locks keep their file on Release: there is one
// per certificate or account, and reopening a file is far cheaper than
// creating one each time (the renewal storm takes several per order).
func TestLockFileKeptUnlessOwner(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	for name, kept := range map[string]bool{CertLock("a.test"): true, ClaimLock("a.test"): true, AccountLock("ca"): true, OwnerLock("1"): false} {
		for range 2 { // the kept file is taken again
			l, err := s.Lock(ctx, name, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.TryLock(ctx, name, time.Minute); !errors.Is(err, ErrLocked) {
				t.Fatalf("%s: second TryLock = %v, want ErrLocked", name, err)
			}
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
		}
		_, err := os.Stat(filepath.Join(s.Root, "locks", name+".lock"))
		if kept && err != nil || !kept && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: lock file after Release: %v, want kept %v", name, err, kept)
		}
	}
}

// A PutSet killed midway leaves a hidden version directory and a swap
// link; the next PutSet of the key removes them.
func TestPutSetSweepsInterruptedLeftovers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newFS(t)
	if err := s.PutSet(ctx, "live/example.com", certSet("one")); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(s.Root, "archive", "example.com", ".new-123")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "cert.pem"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	swap := filepath.Join(s.Root, "live", ".example.com.swap")
	if err := os.Symlink("../archive/example.com/1", swap); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(s.Root, "live", ".other.com.swap") // another key's: not ours to touch
	if err := os.Symlink("x", other); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSet(ctx, "live/example.com", certSet("two")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{stale, swap} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after the next PutSet: %v", p, err)
		}
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("another key's leftover was removed: %v", err)
	}
}
