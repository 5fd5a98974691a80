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
// order: dirs (configured plugin directories), $XDG_DATA_HOME/zonecert/plugins
// (or ~/.local/share/zonecert/plugins), the directory of the running
// executable, then the absolute entries of $PATH. lookupEnv is the only
// source of environment variables; nil means none.
func Find(name string, dirs []string, lookupEnv func(string) (string, bool)) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	if lookupEnv == nil {
		lookupEnv = noEnv
	}
	bin := BinaryPrefix + name
	var search []string
	search = append(search, dirs...)
	if x, ok := lookupEnv("XDG_DATA_HOME"); ok && filepath.IsAbs(x) {
		search = append(search, filepath.Join(x, "zonecert", "plugins"))
	} else if h, ok := lookupEnv("HOME"); ok && filepath.IsAbs(h) {
		search = append(search, filepath.Join(h, ".local", "share", "zonecert", "plugins"))
	}
	if exe, err := os.Executable(); err == nil {
		search = append(search, filepath.Dir(exe))
	}
	if p, ok := lookupEnv("PATH"); ok {
		for _, d := range filepath.SplitList(p) {
			// Relative PATH entries would resolve against the working
			// directory, which is how binaries get planted.
			if filepath.IsAbs(d) {
				search = append(search, d)
			}
		}
	}
	for _, d := range search {
		p := filepath.Join(d, bin)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s in %s", ErrNotFound, bin, strings.Join(search, string(filepath.ListSeparator)))
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
func checkPin(path string, want []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hashing %s: %w", path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("%w: %s has SHA-256 %x, pinned %x; refusing to run it (update the pin if you upgraded the plugin)",
			ErrPinMismatch, path, got, want)
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
