package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/zonecert/zonecert/internal/testenv"
)

// binaries returns the directory holding bin/zonecert and the plugins:
// $ZONECERT_BIN (set by the Makefile after `make build`), else a fresh build
// into a temp directory, once per test binary.
func binaries(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("ZONECERT_BIN"); d != "" {
		for _, b := range []string{"zonecert", "zonecert-dns-rfc2136"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				t.Fatalf("ZONECERT_BIN=%s lacks %s: run make build", d, b)
			}
		}
		return d
	}
	buildOnce.Do(func() { builtDir, buildErr = buildBinaries() })
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtDir
}

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

func buildBinaries() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir, err := os.MkdirTemp("", "zonecert-e2e-bin-")
	if err != nil {
		return "", err
	}
	// Every provider, as `make build` does: some tests (config check)
	// describe plugins that no order runs.
	pkgs := map[string]string{"zonecert": "./cmd/zonecert"}
	mains, _ := filepath.Glob(filepath.Join(root, "providers", "*", "main.go"))
	for _, m := range mains {
		name := filepath.Base(filepath.Dir(m))
		pkgs["zonecert-dns-"+name] = "./providers/" + name
	}
	for out, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
		cmd.Dir = root
		if _, err := os.Stat(filepath.Join(root, pkg, "go.mod")); err == nil {
			// A provider in its own module (lego) builds from its directory.
			cmd.Args[len(cmd.Args)-1], cmd.Dir = ".", filepath.Join(root, pkg)
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", errors.New("building " + pkg + ": " + err.Error() + "\n" + string(b))
		}
	}
	return dir, nil
}

// runResult is one finished zonecert process.
type runResult struct {
	code           int
	stdout, stderr string
	maxRSSKiB      int64
}

// zonecert runs the built binary with exactly env as its environment.
func zonecert(ctx context.Context, t testing.TB, bin string, env []string, args ...string) runResult {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "zonecert"), args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := runResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running zonecert: %v", err)
	}
	r.maxRSSKiB = maxRSSKiB(cmd.ProcessState)
	return r
}

// baseEnv is a minimal environment: nothing of the test process leaks in.
func baseEnv(home string, extra ...string) []string {
	return append([]string{"PATH=/usr/bin:/bin", "HOME=" + home}, extra...)
}

// verifyChain checks fullchain.pem: the leaf carries exactly the wanted
// names and chains to one of Pebble's roots.
func verifyChain(ctx context.Context, t *testing.T, pebble *testenv.Pebble, fullchain string, names []string) {
	t.Helper()
	b, err := os.ReadFile(fullchain)
	if err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	if len(certs) < 2 {
		t.Fatalf("fullchain has %d certificates, want leaf and issuer", len(certs))
	}
	roots, err := pebble.Roots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	for _, n := range names {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: roots, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("chain does not verify for %s: %v", n, err)
		}
	}
	got := strings.Join(leaf.DNSNames, ",")
	want := strings.Join(names, ",")
	if got != want {
		t.Errorf("SANs = %s, want %s", got, want)
	}
}

// checkModes asserts private files are 0600 and every directory 0700 under
// root (certificates themselves may be 0644 inside 0700 directories).
func checkModes(t *testing.T, root string) {
	t.Helper()
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		m := fi.Mode()
		switch {
		case m&os.ModeSymlink != 0:
		case fi.IsDir():
			if m.Perm() != 0o700 {
				t.Errorf("directory %s has mode %v, want 0700", p, m.Perm())
			}
		case strings.HasSuffix(p, "key.pem") || strings.HasSuffix(p, ".json") || strings.Contains(p, "/journal/"):
			if m.Perm() != 0o600 {
				t.Errorf("private file %s has mode %v, want 0600", p, m.Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(hardenHostEnv) != "" {
		hardenHost() // harden_linux_test.go: a plugin host in a subprocess
		return
	}
	code := m.Run()
	if builtDir != "" {
		_ = os.RemoveAll(builtDir)
	}
	os.Exit(code)
}
