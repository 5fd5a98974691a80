package host

import (
	"io"
	"os"
)

// On Linux the opened file itself is executed: it is handed to the child as
// fd 3 (ExtraFiles) and the child execs /proc/self/fd/3, which is that open
// file whatever the path names by then. The fd stays open across exec so an
// interpreter (#! scripts) can read it too; the plugin keeps a read-only
// handle on its own binary, nothing more.
type fdExe struct{ f *os.File }

func openExe(f *os.File, hash bool) ([]byte, exe, error) {
	if !hash {
		return nil, fdExe{f}, nil
	}
	sum, err := hashTo(io.Discard, f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return sum, fdExe{f}, nil
}

// path is the child's fd 3, ExtraFiles[0].
func (fdExe) path() string        { return "/proc/self/fd/3" }
func (x fdExe) files() []*os.File { return []*os.File{x.f} }
func (x fdExe) close() error      { return x.f.Close() }
