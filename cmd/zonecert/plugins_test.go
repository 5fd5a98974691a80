package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin/host"
)

// pluginDirs puts the built rfc2136 plugin in two plugin directories (the
// first wins) and a broken one in the second, and returns them.
func pluginDirs(t *testing.T) (first, second string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs the built plugins")
	}
	bin := filepath.Join(binaries(t), "zonecert-dns-rfc2136")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	first, second = t.TempDir(), t.TempDir()
	for _, d := range []string{first, second} {
		if err := os.WriteFile(filepath.Join(d, "zonecert-dns-rfc2136"), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	broken := "#!/bin/sh\necho not json\n"
	if err := os.WriteFile(filepath.Join(second, "zonecert-dns-broken"), []byte(broken), 0o755); err != nil {
		t.Fatal(err)
	}
	return first, second
}

func listPlugins(t *testing.T, args ...string) []pluginInfo {
	t.Helper()
	e, out, errb := testEnv(map[string]string{"PATH": "/usr/bin:/bin"})
	if err := run(t.Context(), append([]string{"plugins", "--json"}, args...), e); err != nil {
		t.Fatalf("plugins: %v\n%s", err, errb.String())
	}
	var doc struct {
		LockFile string       `json:"lock_file"`
		Plugins  []pluginInfo `json:"plugins"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("plugins --json printed %q: %v", out.String(), err)
	}
	return doc.Plugins
}

func TestPluginsListsLocksAndEnforces(t *testing.T) {
	first, second := pluginDirs(t)
	state := filepath.Join(t.TempDir(), "state")
	dirs := []string{"--plugin-dir", first, "--plugin-dir", second, "--path", state}
	sum, err := host.FileSHA256(filepath.Join(first, "zonecert-dns-rfc2136"))
	if err != nil {
		t.Fatal(err)
	}

	byPath := map[string]pluginInfo{}
	for _, p := range listPlugins(t, dirs...) {
		byPath[p.Path] = p
	}
	win := byPath[filepath.Join(first, "zonecert-dns-rfc2136")]
	if !win.Wins || win.SHA256 != sum || win.ProtocolVersion != 1 || win.Version == "" || win.Lock != "not locked" ||
		!strings.Contains(win.Why, "--plugin-dir") || win.Capabilities == nil {
		t.Errorf("winning rfc2136 = %+v", win)
	}
	shadowed := byPath[filepath.Join(second, "zonecert-dns-rfc2136")]
	if shadowed.Wins || !strings.Contains(shadowed.Why, "shadowed by "+win.Path) {
		t.Errorf("shadowed rfc2136 = %+v", shadowed)
	}
	if broken := byPath[filepath.Join(second, "zonecert-dns-broken")]; !broken.Wins || broken.Error == "" {
		t.Errorf("a plugin whose describe fails is listed with its error: %+v", broken)
	}

	// Lock it, then change the binary: listed as changed, refused by obtain.
	e, out, errb := testEnv(map[string]string{"PATH": "/usr/bin:/bin"})
	if err := run(t.Context(), append([]string{"plugins", "lock", "rfc2136"}, dirs...), e); err != nil {
		t.Fatalf("plugins lock: %v %s", err, errb.String())
	}
	if !strings.Contains(out.String(), sum) {
		t.Errorf("lock output %q lacks the pin", out.String())
	}
	raw, err := os.ReadFile(filepath.Join(state, "plugins.lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := host.ParseLock(raw)
	if err != nil || lock.Plugins["rfc2136"].SHA256 != sum || len(lock.Plugins) != 1 {
		t.Fatalf("lock file %s: %v", raw, err)
	}
	if got := listPlugins(t, dirs...); got[len(got)-1].Lock != "locked" && !hasLock(got, "locked") {
		t.Errorf("after lock: %+v", got)
	}
	f, err := os.OpenFile(filepath.Join(first, "zonecert-dns-rfc2136"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte{0})
	_ = f.Close()
	if !hasLock(listPlugins(t, dirs...), "CHANGED") {
		t.Error("a changed binary is not listed as changed")
	}
	obtain := append([]string{"obtain", "-d", "example.com", "--dns", "rfc2136", "--dns-resolver", "127.0.0.1"}, dirs...)
	e, _, _ = testEnv(map[string]string{"PATH": "/usr/bin:/bin"})
	err = run(t.Context(), obtain, e)
	if !errors.Is(err, host.ErrPinMismatch) || !strings.Contains(err.Error(), "zonecert plugins lock rfc2136 --path "+state+" --plugin-dir "+first) {
		t.Fatalf("obtain with a changed locked plugin: %v; want a pin mismatch naming the lock command", err)
	}
	// Locked again, the plugin starts (and then wants its settings).
	e, _, _ = testEnv(map[string]string{"PATH": "/usr/bin:/bin"})
	if err := run(t.Context(), append([]string{"plugins", "lock"}, dirs...), e); err != nil {
		t.Fatal(err)
	}
	e, _, _ = testEnv(map[string]string{"PATH": "/usr/bin:/bin"})
	start := time.Now()
	err = run(t.Context(), obtain, e)
	t.Logf("second obtain took %s", time.Since(start))
	if err == nil || errors.Is(err, host.ErrPinMismatch) || !strings.Contains(err.Error(), "nameserver") {
		t.Fatalf("obtain after re-locking: %v; want the plugin's settings error", err)
	}
}

func hasLock(infos []pluginInfo, status string) bool {
	for _, p := range infos {
		if p.Name == "rfc2136" && p.Wins && strings.HasPrefix(p.Lock, status) {
			return true
		}
	}
	return false
}

// TestPinForAnotherPluginRefused: a --plugin-sha256 pin for a plugin the
// run does not use is a usage error, not silently ignored.
func TestPinForAnotherPluginRefused(t *testing.T) {
	e, _, _ := testEnv(nil)
	pin := "exampledns=" + strings.Repeat("ab", 32)
	err := run(t.Context(), []string{"obtain", "-d", "example.com", "--dns", "rfc2136", "--dns-resolver", "127.0.0.1",
		"--path", t.TempDir(), "--plugin-sha256", pin}, e)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), `pins plugin "exampledns"`) {
		t.Fatalf("err = %v; want a usage error naming the pin", err)
	}
}
