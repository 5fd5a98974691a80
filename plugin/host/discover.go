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
	"os/exec"
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
	dirsOnly := make([]string, len(search))
	for i, d := range search {
		dirsOnly[i] = d.Dir
	}
	return "", fmt.Errorf("%w: %s in %s", ErrNotFound, bin, strings.Join(dirsOnly, string(filepath.ListSeparator)))
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
// false here; the declared limits are exact.
func Describe(ctx context.Context, path string, lookupEnv func(string) (string, bool)) (plugin.Metadata, error) {
	if lookupEnv == nil {
		lookupEnv = noEnv
	}
	return describe(ctx, path, pluginEnv(nil, lookupEnv))
}

// FileSHA256 is the hex SHA-256 of the file at path, as pins hold it.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
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

// checkPin verifies path against the pin before anything executes it
// (describe runs the binary too); go-plugin's SecureConfig checks again at
// launch.
func checkPin(path string, want []byte, hint string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hashing %s: %w", path, err)
	}
	if hint == "" {
		hint = "update the pin if you upgraded the plugin"
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("%w: %s has SHA-256 %x, pinned %x; refusing to run it (%s)",
			ErrPinMismatch, path, got, want, hint)
	}
	return nil
}

// describeTimeout bounds `<plugin> describe`, which must not do I/O.
const describeTimeout = 15 * time.Second

// describe runs `<path> describe` without the handshake cookie and with the
// base environment only, and decodes the metadata it prints.
func describe(ctx context.Context, path string, env []string) (plugin.Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "describe")
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
