package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
)

// built is the plugin binary this test process built, shared by the tests
// that need one (a build takes seconds on a loaded machine).
var built struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// pluginBinary returns the built zonecert-dns-rfc2136: the one `make build`
// put in $ZONECERT_BIN, or else one built once for this test process.
func pluginBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("ZONECERT_BIN"); dir != "" {
		if p := filepath.Join(dir, "zonecert-dns-rfc2136"); fileExists(p) {
			return p
		}
	}
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "zonecert-dns-rfc2136-test-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "zonecert-dns-rfc2136")
		if out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("building the plugin: %w\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// TestBinaryConformance runs the conformance kit against the built plugin
// as zonecert runs it: a separate process per instance, behind gRPC, with
// the settings in the lego-compatible environment variables.
func TestBinaryConformance(t *testing.T) {
	t.Parallel()
	b := startBIND(t, "example.test")
	env := map[string]string{
		"RFC2136_NAMESERVER":     b.Primary.String(),
		"RFC2136_TSIG_KEY":       b.TSIGKey,
		"RFC2136_TSIG_SECRET":    b.TSIGSecret,
		"RFC2136_TSIG_ALGORITHM": b.TSIGAlgorithm,
		"RFC2136_TTL":            "60",
	}
	conformance.Run(t, conformance.Config{
		Target: conformance.Binary(pluginBinary(t), host.Config{
			Name:      "rfc2136",
			LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		}),
		Zone:         "example.test.",
		Nameservers:  []string{b.Primary.String() + ":53"},
		Timeout:      10 * time.Second,
		PollInterval: 50 * time.Millisecond,
	})
}

// TestBinaryErrors checks that settings problems and update failures cross
// the process boundary with their setting names and codes.
func TestBinaryErrors(t *testing.T) {
	t.Parallel()
	bin := pluginBinary(t)

	t.Run("bad settings", func(t *testing.T) {
		t.Parallel()
		_, err := host.Start(t.Context(), host.Config{Name: "rfc2136", Path: bin, Settings: map[string]string{
			"nameserver": "127.0.0.1:99999", "tsig_key": "k", "tsig_secret": "not base64 !!",
		}})
		var ce *host.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("Start error = %v; want a *host.ConfigError", err)
		}
		got := map[string]bool{}
		for _, d := range ce.Diagnostics {
			got[d.Setting] = true
		}
		if !got["nameserver"] || !got["tsig_secret"] || len(got) != 2 {
			t.Fatalf("diagnostics %+v; want nameserver and tsig_secret", ce.Diagnostics)
		}
	})

	t.Run("wrong secret is auth", func(t *testing.T) {
		t.Parallel()
		b := startBIND(t, "example.test")
		c, err := host.Start(t.Context(), host.Config{Name: "rfc2136", Path: bin, Settings: map[string]string{
			"nameserver": b.Primary.String(), "tsig_key": b.TSIGKey,
			"tsig_secret": "d3JvbmcgdHNpZyBzZWNyZXQgMDEyMzQ1Njc4OWFiY2RlZg==", "tsig_algorithm": b.TSIGAlgorithm,
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		res, err := c.Present(t.Context(), []plugin.Record{rec("1", "_acme-challenge.example.test.", "example.test.", "v")})
		if err != nil || len(res) != 1 || res[0].Err == nil || res[0].Err.Code != plugin.CodeAuth {
			t.Fatalf("Present = %+v, %v; want one auth error", res, err)
		}
	})
}
