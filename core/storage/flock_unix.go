//go:build unix

package storage

import (
	"errors"
	"os"
	"syscall"
)

// tryFlock takes an exclusive non-blocking flock on f.
func tryFlock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// openLockFile opens (creating) a lock file; a symbolic link in its place
// is refused, not followed.
func openLockFile(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDWR|os.O_CREATE|oNoFollow, 0o600)
}
