package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrSymlink: a path inside the state directory is a symbolic link that
// zonecert did not make. FS follows none of them, so a link planted in the
// state directory cannot turn a read, write, list or delete against files
// elsewhere.
var ErrSymlink = errors.New("storage: symbolic link in the state directory")

// How FS stays inside its state directory:
//   - every operation goes through an os.Root opened on Root, which walks
//     each path with openat and refuses anything that leaves the root, even
//     when a component is swapped for a link while it runs;
//   - before acting, walk Lstats each component of the key and refuses any
//     symbolic link except the set links FS makes itself (live/<name> →
//     ../archive/<name>/<N>), and those it does not follow either: it
//     rewrites the path to their target, which it checks the same way;
//   - a file that is read is Lstat'ed, then opened, and the two must be the
//     same regular file (os.Root ignores O_NOFOLLOW: it follows links that
//     stay inside the root).
// So a link planted inside the state directory is refused with its path,
// and one planted while an operation runs can at worst point the
// operation at another file of the same state directory.

// openRoot opens the state directory; create makes it first (mode 0700)
// when it is missing. A missing root with create unset is fs.ErrNotExist.
func (s *FS) openRoot(create bool) (*os.Root, error) {
	r, err := os.OpenRoot(s.Root)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := protectRoot(s.Root); err != nil {
			return nil, fmt.Errorf("creating %s: %w", s.Root, err)
		}
		if err := os.MkdirAll(s.Root, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", s.Root, err)
		}
		r, err = os.OpenRoot(s.Root)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("opening state directory: %w", err)
	}
	return r, err
}

// walked is where walk found a key.
type walked struct {
	rel    string // the path to act on, relative to the root, with no links
	exists bool   // rel exists
	link   bool   // the key itself is a set link FS made (rel is the link)
	target string // for a set link, its target (relative to the root)
}

// walk checks each component of key (a valid key, slash-separated) under r
// and returns the link-free path to act on. Missing directories are made
// (0700) when mkdirs is set, except the last component. An absent
// component ends the walk (exists false).
func (s *FS) walk(r *os.Root, key string, mkdirs bool) (walked, error) {
	segs := strings.Split(key, "/")
	cur := ""
	for i, seg := range segs {
		cur = path.Join(cur, seg)
		last := i == len(segs)-1
		fi, err := r.Lstat(filepath.FromSlash(cur))
		if errors.Is(err, fs.ErrNotExist) {
			if !mkdirs || last {
				rest := path.Join(append([]string{cur}, segs[i+1:]...)...)
				return walked{rel: filepath.FromSlash(rest)}, nil
			}
			if err := r.Mkdir(filepath.FromSlash(cur), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return walked{}, fmt.Errorf("creating %s: %w", s.full(cur), err)
			}
			if fi, err = r.Lstat(filepath.FromSlash(cur)); err != nil {
				return walked{}, fmt.Errorf("creating %s: %w", s.full(cur), err)
			}
		} else if err != nil {
			return walked{}, fmt.Errorf("reading %s: %w", s.full(cur), err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, ok := s.setLink(r, cur, i)
			if !ok {
				return walked{}, fmt.Errorf("%w: %s (remove it; zonecert follows no link there)", ErrSymlink, s.full(cur))
			}
			if last {
				return walked{rel: filepath.FromSlash(cur), exists: true, link: true, target: target}, nil
			}
			// Go on from the link's target, checking it as a key.
			// A set is written whole by PutSet: nothing is created in it.
			return s.walk(r, path.Join(append([]string{target}, segs[i+1:]...)...), false)
		case !last && !fi.IsDir():
			return walked{}, fmt.Errorf("%s is not a directory", s.full(cur))
		}
	}
	return walked{rel: filepath.FromSlash(cur), exists: true}, nil
}

// setLink returns the target of the link at cur (the i-th component of a
// key, slash-separated) when it is a set link PutSet makes:
// live/<name> → ../archive/<name>/<N>.
func (s *FS) setLink(r *os.Root, cur string, i int) (string, bool) {
	first, name, _ := strings.Cut(cur, "/")
	if i != 1 || first == ArchiveDir {
		return "", false
	}
	dest, err := r.Readlink(filepath.FromSlash(cur))
	if err != nil {
		return "", false
	}
	want := "../" + ArchiveDir + "/" + name + "/"
	n, ok := strings.CutPrefix(filepath.ToSlash(dest), want)
	if !ok {
		return "", false
	}
	if v, err := strconv.Atoi(n); err != nil || v < 1 || strconv.Itoa(v) != n {
		return "", false
	}
	return path.Join(ArchiveDir, name, n), true
}

// full is rel's path on disk, for messages.
func (s *FS) full(rel string) string { return filepath.Join(s.Root, filepath.FromSlash(rel)) }

// readRegular reads the regular file rel (link-free, from walk) under r,
// refusing it if it was swapped for anything else between Lstat and open.
func (s *FS) readRegular(r *os.Root, rel string) ([]byte, error) {
	before, err := r.Lstat(rel)
	if err != nil {
		return nil, err
	}
	if before.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%w: %s", ErrSymlink, s.full(rel))
	}
	if !before.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", s.full(rel))
	}
	f, err := r.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	after, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !os.SameFile(before, after) {
		return nil, fmt.Errorf("%w: %s changed while being opened", ErrSymlink, s.full(rel))
	}
	return io.ReadAll(f)
}
