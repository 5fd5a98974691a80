package main

import (
	"errors"
	"io"
	"os"
)

// canUseDir: Windows has no access(2); reading the directory is the
// check that an ACL denying this user fails. A write refused later still
// names the file.
func canUseDir(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
