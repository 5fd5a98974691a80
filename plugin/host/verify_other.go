//go:build !linux

package host

import (
	"os"
	"path/filepath"
)

// Without /proc/self/fd, the file is copied into a private (0700) directory
// while it is hashed, and the copy is what runs: nobody else can replace
// it between the check and the execution. The copy is removed on close
// (Windows keeps a running binary's copy until the process exits: the
// removal then fails and the directory stays in the temp directory).
type copyExe struct {
	dir, file string
}

func openExe(f *os.File, _ bool) ([]byte, exe, error) {
	defer f.Close()
	dir, err := os.MkdirTemp("", "zonecert-plugin-")
	if err != nil {
		return nil, nil, err
	}
	p := filepath.Join(dir, filepath.Base(f.Name()))
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	sum, err := hashTo(out, f)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return sum, copyExe{dir: dir, file: p}, nil
}

func (x copyExe) path() string    { return x.file }
func (copyExe) files() []*os.File { return nil }
func (x copyExe) close() error    { return os.RemoveAll(x.dir) }
