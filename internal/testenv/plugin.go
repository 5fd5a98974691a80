package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// PluginBinary returns a built zonecert-dns-<name> for tests that run the
// provider in package dir (a path as `go build` takes it, "." for the
// current package) as a real subprocess. It is the one `make build` put in
// $ZONECERT_BIN when that exists, so `make test` tests what it ships;
// otherwise the package is built into the test's temporary directory (the
// Go build cache keeps that to a link step after the first time).
func PluginBinary(t testing.TB, name, dir string) string {
	t.Helper()
	bin := "zonecert-dns-" + name
	if d := os.Getenv("ZONECERT_BIN"); d != "" {
		p := filepath.Join(d, bin)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	out := filepath.Join(t.TempDir(), bin)
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", out, dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: building %s: %v\n%s", bin, err, b)
	}
	return out
}
