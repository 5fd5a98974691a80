package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// Pin is what a plugin binary must hash to, and where that was said: the
// error of a mismatch names both, so an operator knows which pin to update.
type Pin struct {
	// SHA256 is the expected digest in hex; empty means no pin.
	SHA256 string
	// Source says where the pin came from ("--plugin-sha256", "lock file
	// /var/lib/zonecert/plugins.lock.json", "providers.dns.sha256 in
	// /etc/zonecert.toml").
	Source string
	// Hint ends the message of a mismatch: how to accept the new binary.
	Hint string
}

// binary is one opened plugin file. It is hashed and executed as the same
// open file (verify_linux.go; a private copy elsewhere), so the file
// checked is the file run: a rename or replacement after the check cannot
// slip an unverified binary in. Every execution of a plugin goes through
// verifyBinary and binary.command; Close it once the process has started.
type binary struct {
	name string // plugin name, for messages
	path string // where it was found, for messages
	sum  []byte // SHA-256 of what command runs, if hashed
	exe  exe
}

// exe is the platform's handle on the verified content (verify_*.go).
type exe interface {
	// path is what the child executes; files are passed to it (fd 3 on).
	path() string
	files() []*os.File
	close() error
}

// verifyBinary opens the plugin at path, hashes it, and refuses it when
// pin is set and differs.
func verifyBinary(name, path string, pin Pin) (*binary, error) {
	b, err := openBinary(name, path, pin.SHA256 != "")
	if err != nil {
		return nil, err
	}
	if err := b.check(pin); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// openBinary opens the plugin at path; hash says whether its digest is
// needed (an unpinned start skips the cost of hashing).
func openBinary(name, path string, hash bool) (*binary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w: %s is not an executable file: %w", name, ErrNotFound, path, err)
	}
	st, err := f.Stat()
	if err != nil || !executableFile(path, st) {
		f.Close()
		return nil, fmt.Errorf("plugin %s: %w: %s is not an executable file", name, ErrNotFound, path)
	}
	sum, x, err := openExe(f, hash)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %s: %w", name, path, err)
	}
	return &binary{name: name, path: path, sum: sum, exe: x}, nil
}

// check compares the digest with pin. The error names the plugin, both
// digests and the pin's source.
func (b *binary) check(pin Pin) error {
	if pin.SHA256 == "" {
		return nil
	}
	want, err := parsePin(pin.SHA256)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", b.name, err)
	}
	if bytes.Equal(b.sum, want) {
		return nil
	}
	src := pin.Source
	if src == "" {
		src = "its pin"
	}
	hint := pin.Hint
	if hint == "" {
		hint = "update the pin if you upgraded the plugin"
	}
	return fmt.Errorf("plugin %s: %w: %s has SHA-256 %x, expected %x (from %s); refusing to run it (%s)",
		b.name, ErrPinMismatch, b.path, b.sum, want, src, hint)
}

// SHA256 is the hex digest of the verified content.
func (b *binary) SHA256() string { return hex.EncodeToString(b.sum) }

// command runs the verified content (never the path again) with args.
// The process outlives no context: go-plugin manages its life.
func (b *binary) command(args ...string) *exec.Cmd {
	cmd := exec.Command(b.exe.path(), args...)
	b.finish(cmd)
	return cmd
}

// commandContext is command, killed when ctx ends.
func (b *binary) commandContext(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, b.exe.path(), args...)
	b.finish(cmd)
	return cmd
}

// finish passes the file and keeps argv[0] the path the plugin was found
// at, as if it had been run by path.
func (b *binary) finish(cmd *exec.Cmd) {
	cmd.ExtraFiles = b.exe.files()
	cmd.Args[0] = b.path
}

// Close releases the open file (or private copy). A process already
// started from it keeps running.
func (b *binary) Close() error { return b.exe.close() }

// hashTo hashes r while copying it to w (io.Discard when only hashing).
func hashTo(w io.Writer, r io.Reader) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, w), r); err != nil {
		return nil, fmt.Errorf("hashing: %w", err)
	}
	return h.Sum(nil), nil
}
