package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/host"
)

// pluginDir holds the plugin binary built once by TestMain, as a user's
// plugin directory would.
var pluginDir string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "zonecert-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	// Build the plugin exactly as its author ships it: `go build` of this
	// module, named zonecert-dns-<name>.
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "zonecert-dns-exampledns"), ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the plugin:", err)
		return 1
	}
	pluginDir = dir
	return m.Run()
}

// sha256File is what a user puts in the pin: `sha256sum zonecert-dns-exampledns`.
func sha256File(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// hostConfig is how zonecert would run the plugin: the endpoint as a
// setting, the token from the (host's) environment, which the host passes
// on only because the plugin's metadata declares EXAMPLEDNS_TOKEN.
func hostConfig(f *fakeAPI, path, pin string) host.Config {
	env := map[string]string{
		"EXAMPLEDNS_TOKEN": testToken,
		"UNRELATED_SECRET": "must not reach the plugin",
	}
	return host.Config{
		Name:     "exampledns",
		Path:     path,
		SHA256:   pin,
		Settings: map[string]string{"endpoint": f.URL},
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
	}
}

// TestPluginBinaryConformance is the whole journey of the guide: the binary
// is discovered in a plugin directory, pinned by SHA-256, started by the
// host over go-plugin, and passes the conformance kit, each Open a new
// process.
func TestPluginBinaryConformance(t *testing.T) {
	f := startFakeAPI(t, testZone, testToken)
	path, err := host.Find("exampledns", []string{pluginDir}, nil)
	if err != nil {
		t.Fatalf("discovering the plugin: %v", err)
	}
	if path != filepath.Join(pluginDir, "zonecert-dns-exampledns") {
		t.Fatalf("discovered %s, want the one in %s", path, pluginDir)
	}
	cfg := hostConfig(f, "", sha256File(t, path))
	cfg.Dirs = []string{pluginDir} // discovery again, by host.Start itself
	conformance.Run(t, conformance.Config{
		Target:      conformance.Binary(path, cfg),
		Zone:        testZone,
		Nameservers: []string{f.NS},
		Timeout:     10 * time.Second,
	})
	if n := f.count(); n != 0 {
		t.Errorf("%d records left at ExampleDNS after the run", n)
	}
}

// TestPluginPinMismatch: a binary that changed after it was pinned is
// refused before it runs.
func TestPluginPinMismatch(t *testing.T) {
	f := startFakeAPI(t, testZone, testToken)
	path := filepath.Join(pluginDir, "zonecert-dns-exampledns")
	wrong := sha256.Sum256([]byte("some other build"))
	before := f.requests()
	_, err := host.Start(t.Context(), hostConfig(f, path, hex.EncodeToString(wrong[:])))
	if !errors.Is(err, host.ErrPinMismatch) {
		t.Fatalf("Start with a wrong pin: err = %v, want ErrPinMismatch", err)
	}
	if n := f.requests() - before; n != 0 {
		t.Errorf("the refused plugin reached the API %d times", n)
	}
}

// TestPluginReportsBadToken: a token the API rejects comes back from the
// host as a diagnostic on the "token" setting, without the token's value.
func TestPluginReportsBadToken(t *testing.T) {
	f := startFakeAPI(t, testZone, "a-different-token")
	path := filepath.Join(pluginDir, "zonecert-dns-exampledns")
	_, err := host.Start(t.Context(), hostConfig(f, path, ""))
	var ce *host.ConfigError
	if !errors.As(err, &ce) || len(ce.Diagnostics) != 1 || ce.Diagnostics[0].Setting != "token" {
		t.Fatalf("Start with a rejected token: err = %v; want a ConfigError about token", err)
	}
	if msg := ce.Diagnostics[0].Message; !strings.Contains(msg, "401") {
		t.Errorf("token diagnostic %q does not say the API refused it (401)", msg)
	}
	if msg := err.Error(); strings.Contains(msg, testToken) {
		t.Errorf("error reveals the token: %s", msg)
	}
}

// TestPluginDescribe: `zonecert-dns-exampledns describe` prints the
// metadata the host uses to decide which variables to pass.
func TestPluginDescribe(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), filepath.Join(pluginDir, "zonecert-dns-exampledns"), "describe").Output()
	if err != nil {
		t.Fatal(err)
	}
	var meta plugin.Metadata
	if err := json.Unmarshal(out, &meta); err != nil {
		t.Fatalf("describe printed %q: %v", out, err)
	}
	if meta.Name != "exampledns" || meta.ProtocolVersion != plugin.ProtocolVersion || meta.Capabilities.MaxBatch != 100 {
		t.Errorf("metadata = %+v", meta)
	}
	var token *plugin.SettingSpec
	for i := range meta.Settings {
		if meta.Settings[i].Name == "token" {
			token = &meta.Settings[i]
		}
	}
	if token == nil || !token.Secret || !token.Required || len(token.Env) == 0 || token.Env[0] != "EXAMPLEDNS_TOKEN" {
		t.Errorf("token setting = %+v; want a required secret read from $EXAMPLEDNS_TOKEN", token)
	}
}
