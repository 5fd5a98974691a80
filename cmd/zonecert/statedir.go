package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// checkStateDir refuses, before anything reads or writes under it, a state
// directory that is not one or that this user cannot use, naming it. A
// missing one is fine: the first write creates it. Its errors are not
// usage errors (exit 1): the path may be right and the disk wrong.
func checkStateDir(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state directory %s: %w", path, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("state directory %s: not a directory", path)
	}
	if err := canUseDir(path); err != nil {
		return fmt.Errorf("state directory %s: this user cannot read and write it (%v)", path, err)
	}
	return nil
}
