package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/zonecert/zonecert/plugin"
)

// BinaryPrefix starts the file name of every provider plugin.
const BinaryPrefix = "zonecert-dns-"

// ErrNotFound is returned (wrapped) when no plugin binary is found.
var ErrNotFound = errors.New("plugin binary not found")

// ErrPinMismatch is returned (wrapped) when a binary's SHA-256 differs from
// its pin.
var ErrPinMismatch = errors.New("plugin binary does not match its SHA-256 pin")

// Find returns the path of the binary zonecert-dns-<name>, searching in
// order: dirs (configured plugin directories), the user plugin directory
// ($XDG_DATA_HOME/zonecert/plugins or ~/.local/share/zonecert/plugins; on
// Windows %LOCALAPPDATA%\zonecert\plugins), the directory of the running
// executable, then the absolute entries of $PATH. lookupEnv is the only
// source of environment variables; nil means none.
func Find(name string, dirs []string, lookupEnv func(string) (string, bool)) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	bin := BinaryPrefix + name + exeSuffix
	search := SearchPath(dirs, lookupEnv)
	for _, d := range search {
		if p := filepath.Join(d.Dir, bin); isExecutable(p) {
			return p, nil
		}
	}
	// Name zonecert's own directories; $PATH, which can be long, by name.
	var where []string
	path := false
	for _, d := range search {
		if d.Source == "$PATH" {
			path = true
			continue
		}
		where = append(where, d.Dir+" ("+d.Source+")")
	}
	if path {
		where = append(where, "$PATH")
	}
	return "", fmt.Errorf("%w: %s is in none of %s", ErrNotFound, bin, strings.Join(where, ", "))
}

// SearchDir is one directory of the plugin search path and why it is on it.
type SearchDir struct {
	Dir    string
	Source string // "--plugin-dir", "user plugin directory", "next to zonecert", "$PATH"
}

// SearchPath is where Find looks, in order; the first match wins.
func SearchPath(dirs []string, lookupEnv func(string) (string, bool)) []SearchDir {
	if lookupEnv == nil {
		lookupEnv = noEnv
	}
	var search []SearchDir
	for _, d := range dirs {
		search = append(search, SearchDir{d, "--plugin-dir"})
	}
	if d, ok := userPluginDir(lookupEnv); ok {
		search = append(search, SearchDir{d, "user plugin directory"})
	}
	if exe, err := os.Executable(); err == nil {
		search = append(search, SearchDir{filepath.Dir(exe), "next to zonecert"})
	}
	if p, ok := lookupEnv("PATH"); ok {
		for _, d := range filepath.SplitList(p) {
			// Relative PATH entries would resolve against the working
			// directory, which is how binaries get planted.
			if filepath.IsAbs(d) {
				search = append(search, SearchDir{d, "$PATH"})
			}
		}
	}
	return search
}

// Candidate is one plugin binary found on the search path.
type Candidate struct {
	Name string
	Path string
	SearchDir
	// Wins is true for the binary Find returns for Name; the others are
	// shadowed by it.
	Wins bool
}

// FindAll lists every plugin binary on the search path, by name and then
// in search order, marking the one Find picks for each name. A directory
// on the path twice is listed once.
func FindAll(dirs []string, lookupEnv func(string) (string, bool)) []Candidate {
	var out []Candidate
	seenDir := map[string]bool{}
	won := map[string]bool{}
	for _, d := range SearchPath(dirs, lookupEnv) {
		clean := filepath.Clean(d.Dir)
		if seenDir[clean] {
			continue
		}
		seenDir[clean] = true
		entries, err := os.ReadDir(d.Dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), BinaryPrefix)
			if ok {
				name, ok = pluginName(name)
			}
			if !ok || validName(name) != nil {
				continue
			}
			p := filepath.Join(d.Dir, e.Name())
			if !isExecutable(p) {
				continue
			}
			out = append(out, Candidate{Name: name, Path: p, SearchDir: d, Wins: !won[name]})
			won[name] = true
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Describe runs `<path> describe` with only the base environment (PATH,
// HOME, TMPDIR and proxies from lookupEnv) and returns the metadata the
// plugin prints. Capabilities found at Configure (sync, list_zones) read
// false here; the declared limits are exact. It pins nothing: use Examine
// (or Inspect) for a binary that may be pinned.
func Describe(ctx context.Context, path string, lookupEnv func(string) (string, bool)) (plugin.Metadata, error) {
	_, meta, err := Examine(ctx, strings.TrimPrefix(filepath.Base(path), BinaryPrefix), path, Pin{}, lookupEnv)
	return meta, err
}

// FileSHA256 is the hex SHA-256 of the file at path, as pins hold it.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum, err := hashTo(io.Discard, f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(sum), nil
}

func validName(name string) error {
	if name == "" {
		return errors.New("plugin name is empty")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("plugin name %q: only a-z, 0-9, '-' and '_' are allowed", name)
		}
	}
	return nil
}

func noEnv(string) (string, bool) { return "", false }

// parsePin decodes a hex SHA-256 pin.
func parsePin(pin string) ([]byte, error) {
	sum, err := hex.DecodeString(strings.TrimSpace(pin))
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("SHA-256 pin %q is not 64 hex digits", pin)
	}
	return sum, nil
}

// describeTimeout bounds `<plugin> describe`, which must not do I/O.
const describeTimeout = 15 * time.Second

// describe runs `<path> describe` without the handshake cookie and with the
// base environment only, and decodes the metadata it prints.
func describe(ctx context.Context, bin *binary, env []string) (plugin.Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	path := bin.path
	var stdout, stderr bytes.Buffer
	cmd := bin.commandContext(ctx, "describe")
	cmd.Env = env
	cmd.Stdout = &limitedWriter{w: &stdout, n: 1 << 20}
	cmd.Stderr = &limitedWriter{w: &stderr, n: 8 << 10}
	cmd.SysProcAttr = sysProcAttr(true)
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		msg := fmt.Errorf("running %s describe: %w", path, err)
		if out := strings.TrimSpace(stderr.String()); out != "" {
			msg = fmt.Errorf("%w: %s", msg, out)
		}
		return plugin.Metadata{}, msg
	}
	var m plugin.Metadata
	dec := json.NewDecoder(&stdout)
	if err := dec.Decode(&m); err != nil {
		return plugin.Metadata{}, fmt.Errorf("decoding %s describe output: %w", path, err)
	}
	return m, nil
}

// limitedWriter keeps the first n bytes and drops the rest, so a runaway
// plugin cannot exhaust memory.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return len(p), nil
	}
	k := min(len(p), l.n)
	l.n -= k
	if _, err := l.w.Write(p[:k]); err != nil {
		return 0, err
	}
	return len(p), nil
}
