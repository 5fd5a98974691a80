package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FS is the filesystem backend. A key maps to the file <Root>/<key>.
//
// Durability: every Put writes a temp file in the destination directory,
// fsyncs it, renames it over the key and fsyncs the directory. Directories
// are 0700, private values 0600.
//
// Atomic sets (PutSet) use versioned directories, the layout certbot users
// know: the files of set "live/<name>" are written into a new directory
// archive/<name>/<N>/, fsynced, and only then is the symlink live/<name>
// re-pointed at it with a rename, which is atomic. A crash before the rename
// leaves the old set in place and an orphan archive directory; a crash after
// it leaves the complete new set. Older versions stay under archive/ as
// history. (The alternative, renaming each file after all temp files are
// fsynced, leaves a window in which cert.pem and privkey.pem disagree.)
//
// Locks are flock(2) locks on <Root>/locks/<name>.lock: the kernel releases
// them when the process dies, so the lease is not needed and ignored. A
// flock belongs to one open file, so two Locks in one process exclude each
// other like two processes do.
type FS struct {
	Root string

	// beforeSwap, when set (tests), runs after a set's files are durable and
	// before the symlink swap; an error aborts the swap like a crash would.
	beforeSwap func() error
	// writeFile, when set (tests), writes each member of a set instead of
	// writeFileSync, so a test can fail a write midway.
	writeFile func(r *os.Root, rel string, data []byte, mode os.FileMode) error

	// turns holds one token per lock name: Lock's waiters in this process
	// queue on it and wake the moment the holder releases, rather than
	// polling the flock (which still excludes other processes).
	turns sync.Map // lock name → chan struct{} (capacity 1)
}

var _ Storage = (*FS)(nil)

// NewFS returns an FS rooted at root. Nothing is created until the first
// write, so a run that fails early leaves no trace on disk.
func NewFS(root string) (*FS, error) {
	if root == "" {
		return nil, errors.New("storage: empty root path")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("storage root: %w", err)
	}
	return &FS{Root: abs}, nil
}

func (s *FS) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.Root, filepath.FromSlash(key)), nil
}

// LocalPath returns the file that holds key.
func (s *FS) LocalPath(key string) (string, bool) {
	p, err := s.path(key)
	return p, err == nil
}

// Get reads the value at key.
func (s *FS) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	r, err := s.openRoot(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	} else if err != nil {
		return nil, err
	}
	defer r.Close()
	w, err := s.walk(r, key, false)
	if err != nil {
		return nil, err
	}
	if !w.exists {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if w.link {
		return nil, fmt.Errorf("reading %s: a set, not a file", key)
	}
	b, err := s.readRegular(r, w.rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return b, err
}

// Put writes value at key atomically and durably.
func (s *FS) Put(ctx context.Context, key string, value []byte, private bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateKey(key); err != nil {
		return err
	}
	r, err := s.openRoot(true)
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := s.walk(r, key, true)
	if err != nil {
		return err
	}
	if w.link {
		return fmt.Errorf("writing %s: a set, not a file", key)
	}
	return s.writeAtomic(r, w.rel, value, fileMode(private))
}

// Delete removes key; an absent key is not an error. Empty parent
// directories are left in place. A set link is removed, not followed.
func (s *FS) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateKey(key); err != nil {
		return err
	}
	r, err := s.openRoot(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	defer r.Close()
	w, err := s.walk(r, key, false)
	if err != nil {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	if !w.exists {
		return nil
	}
	if err := r.Remove(w.rel); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	return s.syncDir(r, filepath.Dir(w.rel))
}

// List returns the sorted names of the immediate children of prefix
// (files and directories, temp files excluded). An absent prefix lists
// nothing.
func (s *FS) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := s.openRoot(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer r.Close()
	dir := "."
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		if err := ValidateKey(prefix); err != nil {
			return nil, err
		}
		w, err := s.walk(r, prefix, false)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", prefix, err)
		}
		if !w.exists {
			return nil, nil
		}
		dir = w.rel
		if w.link {
			dir = filepath.FromSlash(w.target)
		}
	}
	ents, err := readDir(r, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", prefix, err)
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// readDir lists the directory rel under r.
func readDir(r *os.Root, rel string) ([]fs.DirEntry, error) {
	d, err := r.Open(rel)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}

// PutSet atomically replaces the set of files at key (see FS). key must have
// at least two segments, e.g. "live/example.com"; its versions are kept under
// archive/<key without its first segment>/<N>.
func (s *FS) PutSet(ctx context.Context, key string, files map[string]File) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ValidateKey(key); err != nil {
		return err
	}
	first, rest, ok := strings.Cut(key, "/")
	if !ok || first == ArchiveDir || strings.Contains(rest, "/") {
		return fmt.Errorf("%w %q: a set needs a key like live/<name>", ErrInvalidKey, key)
	}
	if len(files) == 0 {
		return errors.New("storage: empty set")
	}
	for name := range files {
		if err := validSegment(name); err != nil {
			return fmt.Errorf("%w: set member %q: %v", ErrInvalidKey, name, err)
		}
	}
	r, err := s.openRoot(true)
	if err != nil {
		return err
	}
	defer r.Close()
	// Walk the archive as a directory to create, and the link's directory:
	// a link planted at either is refused before anything is written.
	aw, err := s.walk(r, path.Join(ArchiveDir, rest, "x"), true)
	if err != nil {
		return err
	}
	archive := filepath.Dir(aw.rel)
	lw, err := s.walk(r, key, true)
	if err != nil {
		return err
	}
	if lw.exists && !lw.link {
		return fmt.Errorf("writing %s: %s is not a link zonecert made", key, s.full(key))
	}
	link := filepath.FromSlash(key)
	linkDir := filepath.Dir(link)
	sweepTemps(r, archive, versionTempPrefix)
	// Write the new version into a hidden temp directory, then rename it to
	// its final versioned name, so archive/<name>/<N> is always complete.
	tmp, err := mkdirTemp(r, archive, versionTempPrefix)
	if err != nil {
		return fmt.Errorf("creating version directory: %w", err)
	}
	defer r.RemoveAll(tmp) // no-op once renamed
	write := writeFileSync
	if s.writeFile != nil {
		write = s.writeFile
	}
	for name, f := range files {
		if err := write(r, filepath.Join(tmp, name), f.Data, fileMode(f.Private)); err != nil {
			return fmt.Errorf("writing %s/%s: %w", key, name, err)
		}
	}
	if err := s.syncDir(r, tmp); err != nil {
		return err
	}
	version, err := nextVersion(r, archive)
	if err != nil {
		return err
	}
	final := filepath.Join(archive, strconv.Itoa(version))
	if err := r.Rename(tmp, final); err != nil {
		return fmt.Errorf("publishing version: %w", err)
	}
	if err := s.syncDir(r, archive); err != nil {
		return err
	}
	if s.beforeSwap != nil {
		if err := s.beforeSwap(); err != nil {
			return err
		}
	}
	target, err := filepath.Rel(linkDir, final)
	if err != nil {
		return err
	}
	// One swap name per key: the PutSets of a key are serialized, so the
	// name is free but for what an interrupted PutSet left, removed here.
	// (A name per process would need live/, every lineage, read to sweep.)
	tmpLink := filepath.Join(linkDir, "."+filepath.Base(link)+".swap")
	_ = r.Remove(tmpLink)
	if err := r.Symlink(target, tmpLink); err != nil {
		return fmt.Errorf("creating link: %w", err)
	}
	if err := r.Rename(tmpLink, link); err != nil {
		_ = r.Remove(tmpLink)
		return fmt.Errorf("switching %s to version %d: %w", key, version, err)
	}
	return s.syncDir(r, linkDir)
}

// versionTempPrefix starts the name of a version PutSet is still writing
// (archive/<name>/.new-<random>); a leftover is swept by the next PutSet.
const versionTempPrefix = ".new-"

// nextVersion returns one more than the highest numbered version in dir.
func nextVersion(r *os.Root, dir string) (int, error) {
	ents, err := readDir(r, dir)
	if err != nil {
		return 0, err
	}
	highest := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > highest {
			highest = n
		}
	}
	return highest + 1, nil
}

// mkdirTemp makes a new directory dir/<prefix><random> (0700) under r and
// returns its path.
func mkdirTemp(r *os.Root, dir, prefix string) (string, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36))
		err := r.Mkdir(name, 0o700)
		if err == nil {
			return name, r.Chmod(name, 0o700) // umask may have narrowed it
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free temp name in %s", dir)
}

func fileMode(private bool) os.FileMode {
	if private {
		return 0o600
	}
	return 0o644
}

// writeAtomic writes data to a temp file beside rel (under r), fsyncs it,
// renames it over rel and fsyncs the directory.
func (s *FS) writeAtomic(r *os.Root, rel string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(rel)
	var f *os.File
	var tmp string
	for range 100 {
		tmp = filepath.Join(dir, "."+filepath.Base(rel)+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		var err error
		f, err = r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating temp file: %w", err)
		}
	}
	if f == nil {
		return fmt.Errorf("creating temp file: no free name in %s", s.full(dir))
	}
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = r.Remove(tmp)
		}
	}()
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", s.full(rel), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", s.full(rel), err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := r.Rename(tmp, rel); err != nil {
		return fmt.Errorf("renaming %s: %w", s.full(rel), err)
	}
	ok = true
	return s.syncDir(r, dir)
}

// writeFileSync creates the new file rel under r and makes it durable.
func writeFileSync(r *os.Root, rel string, data []byte, mode os.FileMode) error {
	f, err := r.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil { // umask may have narrowed it
		_ = f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func (s *FS) syncDir(r *os.Root, dir string) error {
	d, err := r.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", s.full(dir), err)
	}
	return nil
}

// sweepTemps removes what an interrupted PutSet of the same key left in
// dir (names starting with prefix). Callers serialize the PutSets of one
// key (the engine holds the certificate's lock), so no live write owns
// them. Best effort: a leftover that stays is retried next time.
// RemoveAll removes a link, never what it points to. It reads names
// only: an entry's type is an lstat each through os.Root.
func sweepTemps(r *os.Root, dir, prefix string) {
	d, err := r.Open(dir)
	if err != nil {
		return
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return
	}
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			_ = r.RemoveAll(filepath.Join(dir, n))
		}
	}
}

// Lock takes the flock(2) lock <Root>/locks/<name>.lock, polling until it is
// free or ctx ends. The lease is ignored (see FS).
func (s *FS) Lock(ctx context.Context, name string, lease time.Duration) (Lock, error) {
	t, _ := s.turns.LoadOrStore(name, make(chan struct{}, 1))
	turn := t.(chan struct{})
	select {
	case turn <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for lock %s: %w", name, context.Cause(ctx))
	}
	delay := 20 * time.Millisecond
	for {
		l, err := s.TryLock(ctx, name, lease)
		if err == nil {
			l.(*fsLock).turn = turn
			return l, nil
		}
		if !errors.Is(err, ErrLocked) {
			<-turn
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			<-turn
			return nil, fmt.Errorf("waiting for lock %s: %w", name, context.Cause(ctx))
		case <-t.C:
		}
		delay = min(delay*2, 500*time.Millisecond)
	}
}

// TryLock takes the lock Lock takes, or returns ErrLocked at once. The
// lease is ignored (see FS).
//
// Release removes the lock file of an owner lock (OwnerLock), so they do
// not pile up at one per order. Other locks are one per certificate or
// account and keep their file: creating and unlinking an inode each time a
// lock is taken costs the kernel several times what reopening does, and a
// renewal storm takes several locks per order. A holder checks after flock
// that its descriptor is still the file at the path: a waiter that opened
// the file before the holder removed it holds a lock on an orphan inode and
// must open the path again.
func (s *FS) TryLock(ctx context.Context, name string, _ time.Duration) (Lock, error) {
	if err := validSegment(name); err != nil {
		return nil, fmt.Errorf("%w: lock %q: %v", ErrInvalidKey, name, err)
	}
	r, err := s.openRoot(true)
	if err != nil {
		return nil, err
	}
	key := path.Join("locks", name+".lock")
	w, err := s.walk(r, key, true) // refuses a link at locks/ or at the lock
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("opening lock: %w", err)
	}
	p := filepath.Join(s.Root, w.rel)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := openLockFile(p)
		if err != nil {
			return nil, fmt.Errorf("opening lock: %w", err)
		}
		held, err := tryFlock(f)
		if err != nil || !held {
			_ = f.Close()
			if err != nil {
				return nil, fmt.Errorf("locking %s: %w", name, err)
			}
			return nil, fmt.Errorf("%w: %s", ErrLocked, name)
		}
		if same, err := samePath(f, p); err != nil || !same {
			_ = f.Close() // removed by its last holder meanwhile: open again
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("locking %s: %w", name, err)
			}
			continue
		}
		return &fsLock{f: f, path: p, remove: strings.HasPrefix(name, ownerLockPrefix)}, nil
	}
}

// samePath reports whether f is still the file at path p.
func samePath(f *os.File, p string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Stat(p)
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

type fsLock struct {
	mu     sync.Mutex
	f      *os.File
	path   string
	remove bool          // the file goes on Release (owner locks)
	turn   chan struct{} // Lock's token for the name in this process (nil from TryLock)
}

func (l *fsLock) Release(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	// Remove while still holding, so no one else can hold the file removed.
	var rmErr error
	if l.remove {
		rmErr = os.Remove(l.path)
	}
	if errors.Is(rmErr, fs.ErrNotExist) {
		rmErr = nil
	}
	err := l.f.Close() // closing the descriptor drops the flock
	l.f = nil
	if l.turn != nil {
		<-l.turn
	}
	return errors.Join(rmErr, err)
}
