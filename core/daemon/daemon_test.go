package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

// world is BIND serving inproc.test and Pebble validating against it.
type world struct {
	bind    *testenv.BIND
	pebble  *testenv.Pebble
	plugins string
	dir     string
}

func startWorld(t *testing.T) *world {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs BIND9, Pebble and the rfc2136 plugin")
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "inproc.test"}}})
	p := testenv.StartPebble(t, testenv.PebbleOptions{DNSServer: netip.AddrPortFrom(b.Primary, 53).String(), NonceReject: 20})
	bin := testenv.PluginBinary(t, "rfc2136", "../../providers/rfc2136")
	return &world{bind: b, pebble: p, plugins: filepath.Dir(bin), dir: t.TempDir()}
}

// config parses a configuration with the real plugin's describe.
func (w *world) config(t *testing.T, wait, stop string, names ...string) *config.Config {
	t.Helper()
	bundle := filepath.Join(w.dir, "ca.pem")
	if err := os.WriteFile(bundle, w.pebble.CABundlePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`state = %q
[acme]
server = %q
ca_bundle = %q
agree_tos = true
[dns]
resolvers = [%q]
wait = %q
[daemon]
jitter = "0s"
retry_min = "1s"
stop_timeout = %q
[providers.bind]
plugin = "rfc2136"
settings = { nameserver = "%s:53", tsig_key = %q, tsig_secret = "${SECRET}" }
`, filepath.Join(w.dir, "state"), w.pebble.DirectoryURL, bundle, w.bind.Primary.String(), wait, stop, w.bind.Primary, w.bind.TSIGKey)
	for _, n := range names {
		doc += fmt.Sprintf("[[certificate]]\nname = %q\ndomains = [\"%s.inproc.test\"]\nprovider = \"bind\"\n", n, n)
	}
	env := func(k string) (string, bool) {
		if k == "SECRET" {
			return w.bind.TSIGSecret, true
		}
		return "", false
	}
	cfg, err := config.Parse(t.Context(), "test.toml", []byte(doc), 0o600, config.Options{
		LookupEnv: env, PluginDirs: []string{w.plugins},
		Describe: func(ctx context.Context, name, path, sha string, dirs []string, _ string) (plugin.Metadata, error) {
			return host.Inspect(ctx, host.Config{Name: name, Path: path, SHA256: sha, Dirs: dirs})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func launch(ctx context.Context, def config.Provider, dirs, resolvers []string, env func(string) (string, bool), log *slog.Logger) (Plugin, error) {
	c, err := host.Start(ctx, host.Config{Name: def.Plugin, Instance: def.Name, Dirs: dirs,
		Settings: def.Settings, Resolvers: resolvers, LookupEnv: env, Logger: log})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (w *world) daemon(t *testing.T, cfg *config.Config) *Daemon {
	t.Helper()
	return newDaemon(t, cfg, Options{HTTPClient: through(w.pebble.HTTPClient)})
}

// eventually polls cond (a test helper, not the engine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) clean(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		vals, err := w.bind.TXT(t.Context(), w.bind.Primary, "_acme-challenge."+n+".inproc.test.")
		if err != nil || len(vals) > 0 {
			t.Errorf("TXT left for %s: %v %v", n, vals, err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(w.dir, "state", "journal"))
	if len(ents) > 0 {
		t.Errorf("%d journal entries left", len(ents))
	}
}

// TestDaemonInProcess runs the daemon in the test process (for the race
// detector): two certificates at start, a reload that adds one and one that
// removes one, and a stop.
func TestDaemonInProcess(t *testing.T) {
	w := startWorld(t)
	d := w.daemon(t, w.config(t, "authoritative", "30s", "a", "b"))
	d.failures["a"] = 5 // as if a had failed before: its order succeeds and resets the backoff
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx, nil) }()
	stored := func(n int) func() bool {
		return func() bool { return testutil.CollectAndCount(d.m.notAfter) == n }
	}
	eventually(t, "two certificates", stored(2))
	if err := d.Reload(w.config(t, "authoritative", "30s", "a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the third certificate", stored(3))
	if err := d.Reload(w.config(t, "authoritative", "30s", "a", "c")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b dropped", stored(2))
	if v := testutil.ToFloat64(d.m.orders.WithLabelValues(reasonMissing)); v != 3 {
		t.Errorf("%v orders, want 3", v)
	}
	// The lifecycle's renewal check ran after each order: Pebble offers
	// ARI, so the plan caches a window and a time drawn in it.
	eventually(t, "a's renewal check cached", func() bool {
		p, err := core.LoadPlan(t.Context(), d.store, "a")
		return err == nil && p.Check != nil
	})
	// The check is cached after the order succeeded, so after the reset.
	d.mu.Lock()
	if n := d.failures["a"]; n != 0 {
		t.Errorf("a's backoff after a successful order: %d failures remembered, want none", n)
	}
	d.mu.Unlock()
	p, _ := core.LoadPlan(t.Context(), d.store, "a")
	if p.Check.Reason != core.ReasonARI || p.Check.RenewAt.Before(p.Check.WindowStart) || p.Check.RenewAt.After(p.Check.WindowEnd) {
		t.Errorf("cached check %+v, want an ARI window with the renewal time in it", *p.Check)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	w.clean(t, "a", "b", "c")
}

// TestDaemonStopTimeout: an order still running when the stop timeout
// ends is cancelled, and its records are removed all the same.
func TestDaemonStopTimeout(t *testing.T) {
	w := startWorld(t)
	var logs strings.Builder // written under the handler's lock, read after Run
	d, err := New(w.config(t, "fixed:5m", "200ms", "slow"), Options{Launch: launch,
		HTTPClient: func(string) (*http.Client, error) { return w.pebble.HTTPClient, nil },
		Logger:     slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx, nil) }()
	eventually(t, "the record published", func() bool {
		vals, _ := w.bind.TXT(t.Context(), w.bind.Primary, "_acme-challenge.slow.inproc.test.")
		return len(vals) > 0
	})
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(d.m.failures.WithLabelValues("canceled")); v != 1 {
		var b strings.Builder
		for _, r := range []string{"ca", "dns", "internal", "canceled"} {
			fmt.Fprintf(&b, " %s=%v", r, testutil.ToFloat64(d.m.failures.WithLabelValues(r)))
		}
		t.Errorf("failures:%s; want one canceled", b.String())
	}
	// A cancelled order is no failure to the reader of the logs.
	if out := logs.String(); !strings.Contains(out, `level=INFO msg="order cancelled"`) || strings.Contains(out, "order failed") {
		t.Errorf("logs of a stop that cancelled an order:\n%s", out)
	}
	w.clean(t, "slow")
}
