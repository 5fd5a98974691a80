package storage_test

import (
	"testing"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/core/storage/storagetest"
)

// FS passes the contract every backend passes. Its locks die with the
// process (TestTryLockSeesHolderDie) and cannot be lost while it lives, so
// it ignores fences.
func TestFSContract(t *testing.T) {
	storagetest.Run(t, storagetest.Backend{
		New: func(t *testing.T) storage.Storage {
			s, err := storage.NewFS(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
