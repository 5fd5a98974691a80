package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/daemon"
	"github.com/zonecert/zonecert/plugin/host"
)

// lockedThenSwapped locks the built rfc2136 plugin in a fresh state
// directory, then renames over it a script that leaves a marker whenever
// anything executes it (and then runs the real plugin, as an attacker's
// wrapper would). It returns the plugin directory, the state directory, the
// marker and the locked digest.
func lockedThenSwapped(t *testing.T) (dir, state, marker, sum string) {
	t.Helper()
	dir, state, sum = locked(t)
	return dir, state, swapPlugin(t, dir), sum
}

// locked locks the built rfc2136 plugin in a fresh state directory.
func locked(t *testing.T) (dir, state, sum string) {
	t.Helper()
	dir, _ = pluginDirs(t)
	state = filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	e, _, errb := testEnv(map[string]string{"PATH": "/usr/bin:/bin"})
	if err := run(t.Context(), []string{"plugins", "lock", "rfc2136", "--plugin-dir", dir, "--path", state}, e); err != nil {
		t.Fatalf("plugins lock: %v %s", err, errb.String())
	}
	var err error
	if sum, err = host.FileSHA256(filepath.Join(dir, "zonecert-dns-rfc2136")); err != nil {
		t.Fatal(err)
	}
	return dir, state, sum
}

// swapPlugin renames the marker-writing wrapper over dir's rfc2136 plugin
// and returns the marker's path.
func swapPlugin(t *testing.T, dir string) (marker string) {
	t.Helper()
	bin := filepath.Join(dir, "zonecert-dns-rfc2136")
	real := filepath.Join(t.TempDir(), "real-rfc2136")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, b, 0o755); err != nil {
		t.Fatal(err)
	}
	marker = filepath.Join(t.TempDir(), "executed")
	script := "#!/bin/sh\ntouch '" + marker + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(bin+".new", []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	return marker
}

// wantRefused checks the error of a command that met the swapped binary:
// a pin mismatch naming the plugin, both digests and the lock file, and
// nothing executed.
func wantRefused(t *testing.T, what string, err error, state, marker, sum string) {
	t.Helper()
	// The configuration's errors carry the message, not the wrapped value.
	if !errors.Is(err, host.ErrPinMismatch) && (err == nil || !strings.Contains(err.Error(), host.ErrPinMismatch.Error())) {
		t.Errorf("%s: err = %v, want a pin mismatch", what, err)
	}
	if err != nil {
		for _, s := range []string{"plugin rfc2136", "expected " + sum, "has SHA-256 ", filepath.Join(state, "plugins.lock.json")} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error lacks %q: %v", what, s, err)
			}
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("%s executed the changed plugin binary", what)
	}
}

// TestLockedPluginVerifiedOnEveryPath: once rfc2136 is locked, a changed
// binary is executed by no command at all, not even for its describe:
// config check, zonecert run at start, plugins, obtain and persist (the
// daemon's launch and SIGHUP have tests of their own below).
func TestLockedPluginVerifiedOnEveryPath(t *testing.T) {
	t.Parallel()
	dir, state, marker, sum := lockedThenSwapped(t)
	cfgFile := writeTrustConfig(t, state)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	vars := map[string]string{"PATH": "/usr/bin:/bin"}

	e, _, _ := testEnv(vars)
	err := run(ctx, []string{"config", "check", cfgFile, "--plugin-dir", dir}, e)
	wantRefused(t, "config check", err, state, marker, sum)

	e, _, _ = testEnv(vars)
	err = run(ctx, []string{"run", "--config", cfgFile, "--plugin-dir", dir}, e)
	wantRefused(t, "run", err, state, marker, sum)

	e, _, _ = testEnv(vars)
	err = run(ctx, []string{"obtain", "-d", "example.com", "--dns", "rfc2136", "--dns-resolver", "127.0.0.1",
		"--plugin-dir", dir, "--path", state}, e)
	wantRefused(t, "obtain", err, state, marker, sum)

	e, _, _ = testEnv(vars)
	err = run(ctx, []string{"persist", "setup", "-d", "example.com", "--dns", "rfc2136", "--dns-resolver", "127.0.0.1",
		"--account-uri", "https://ca.example/acct/1", "--plugin-dir", dir, "--path", state}, e)
	wantRefused(t, "persist setup", err, state, marker, sum)

	infos := listPlugins(t, "--plugin-dir", dir, "--path", state)
	if !hasLock(infos, "CHANGED") {
		t.Errorf("plugins: the changed binary is not listed as changed: %+v", infos)
	}
	for _, p := range infos {
		if p.Name == "rfc2136" && p.Wins && !strings.Contains(p.Error, "refusing to run it") {
			t.Errorf("plugins: error = %q, want the refusal", p.Error)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("plugins executed the changed plugin binary")
	}
}

// TestDaemonLaunchAppliesTheLock: the daemon starts an instance's plugin
// only after checking it against the lock file, read at each start (the
// binary may change after the configuration was checked).
func TestDaemonLaunchAppliesTheLock(t *testing.T) {
	t.Parallel()
	dir, state, marker, sum := lockedThenSwapped(t)
	launch := launchPlugin(state, "/etc/zonecert.toml")
	def := config.Provider{Name: "bind", Plugin: "rfc2136", Settings: map[string]string{"nameserver": "192.0.2.1:53"}}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	env := func(k string) (string, bool) {
		if k == "PATH" {
			return "/usr/bin:/bin", true
		}
		return "", false
	}
	p, err := launch(ctx, def, []string{dir}, nil, env, slog.New(slog.DiscardHandler))
	if err == nil {
		p.Close()
	}
	wantRefused(t, "daemon launch", err, state, marker, sum)

	// An instance's own sha256 wins over the lock, and its error says so.
	def.SHA256 = sum
	if _, err = launch(ctx, def, []string{dir}, nil, env, slog.New(slog.DiscardHandler)); !errors.Is(err, host.ErrPinMismatch) ||
		!strings.Contains(err.Error(), "providers.bind.sha256 in /etc/zonecert.toml") {
		t.Errorf("instance pin: err = %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the daemon executed the changed plugin binary")
	}
}

// writeTrustConfig writes a daemon configuration with one rfc2136 instance.
func writeTrustConfig(t *testing.T, state string) string {
	t.Helper()
	cfgFile := filepath.Join(t.TempDir(), "zonecert.toml")
	doc := `state = "` + state + `"
[acme]
server = "letsencrypt-staging"
agree_tos = true
[dns]
resolvers = ["192.0.2.53"]
[providers.bind]
plugin = "rfc2136"
settings = { nameserver = "192.0.2.1:53" }
[[certificate]]
name = "web"
domains = ["example.com"]
provider = "bind"
`
	if err := os.WriteFile(cfgFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgFile
}

// TestReloadVerifiesLockedPlugins: a SIGHUP after the binary changed
// refuses the new configuration without running the changed plugin, and
// the running configuration stays.
func TestReloadVerifiesLockedPlugins(t *testing.T) {
	t.Parallel()
	dir, state, sum := locked(t)
	cfgFile := writeTrustConfig(t, state)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	e, _, _ := testEnv(map[string]string{"PATH": "/usr/bin:/bin"})
	e.logs = &logFlags{}
	cfg, err := loadConfig(ctx, e, cfgFile, []string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, nil))
	d, err := daemon.New(cfg, daemon.Options{Logger: log, LookupEnv: e.lookupEnv, HTTPClient: httpClient, Launch: launchPlugin(state, cfgFile)})
	if err != nil {
		t.Fatal(err)
	}
	marker := swapPlugin(t, dir)
	reload(ctx, e, log, d, cfgFile, []string{dir})
	out := logs.String()
	if !strings.Contains(out, "configuration refused") || !strings.Contains(out, "expected "+sum) {
		t.Errorf("reload log lacks the refusal naming the pin:\n%s", out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the reload executed the changed plugin binary")
	}
}

// lockedWriter serialises writes of concurrent log records.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
