package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// rfc2136Instance is the alpha instance's table: the rfc2136 plugin
// updating through addr with the default key.
func rfc2136Instance(addr, window string) string {
	return fmt.Sprintf(`plugin = "rfc2136"
coalesce_window = %q
settings = { nameserver = %q, tsig_key = "zonecert-test.", tsig_secret = "${ALPHA_TSIG_SECRET}" }`, window, addr)
}

// waitStored waits for every certificate c0…c(n-1) to be stored and
// returns the daemon's metrics.
func waitStored(t *testing.T, p *daemonProc, n int) string {
	t.Helper()
	var addr string
	rec, _ := p.waitRecord(t, 0, 30*time.Second, map[string]string{"msg": "metrics listening"})
	addr = rec["addr"].(string)
	for i := range n {
		p.waitRecord(t, 0, 120*time.Second, map[string]string{"msg": "certificate stored", "cert": fmt.Sprintf("c%d", i)})
	}
	_, body := get(t.Context(), t, addr, "/metrics")
	return body
}

// noTXT fails the test if any challenge name still holds a TXT record.
func noTXT(t *testing.T, e *daemonEnv, names []string) {
	t.Helper()
	for _, n := range names {
		txt, err := e.bind.TXT(t.Context(), e.bind.Primary, "_acme-challenge."+n+".")
		if err != nil || len(txt) > 0 {
			t.Errorf("%s: TXT %q left (%v)", n, txt, err)
		}
	}
}

// TestDaemonCoalescesTwentyOrders: twenty certificates of one zone,
// obtained at once by the daemon through one rfc2136 instance, cost at
// most 3 UPDATE messages to the primary (one Present, one or two CleanUp
// calls), counted by a relay in front of it.
func TestDaemonCoalescesTwentyOrders(t *testing.T) {
	e := startDaemonEnv(t)
	u := startUpdateCounter(t, netip.AddrPortFrom(e.bind.Primary, 53))
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("c%d.alpha.test", i))
	}
	// A window of 1 s, not the default 50 ms: the orders reach the
	// provider one newOrder apart, and the test must not depend on how
	// fast this machine runs them.
	cfg := e.stormConfig(t, rfc2136Instance(u.addr, "1s"), names)
	p := e.startDaemon(t, cfg)
	body := waitStored(t, p, len(names))
	n := u.updates.Load()
	t.Logf("20 certificates: %d UPDATE messages; present calls %v, cleanup calls %v", n,
		metric(body, `zonecert_provider_coalesced_calls_total{instance="alpha",method="present"}`),
		metric(body, `zonecert_provider_coalesced_calls_total{instance="alpha",method="cleanup"}`))
	if n > 3 || n < 2 {
		t.Errorf("%d UPDATE messages for 20 certificates, want 2 or 3", n)
	}
	if v := metric(body, `zonecert_order_failures_total{reason="dns"}`); v > 0 {
		t.Errorf("%v orders failed", v)
	}
	noTXT(t, e, names)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestDaemonPluginKilledMidBatch: the plugin is killed while its
// coalesced Present is in flight (the relay holds the UPDATE). The daemon
// restarts it, sends the batch again, and every order of the batch
// completes.
func TestDaemonPluginKilledMidBatch(t *testing.T) {
	e := startDaemonEnv(t)
	u := startUpdateCounter(t, netip.AddrPortFrom(e.bind.Primary, 53))
	held, release := u.holdNext()
	var names []string
	for i := range 5 {
		names = append(names, fmt.Sprintf("k%d.alpha.test", i))
	}
	cfg := e.stormConfig(t, rfc2136Instance(u.addr, "300ms"), names)
	p := e.startDaemon(t, cfg)
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("no UPDATE reached the relay")
	}
	bin := filepath.Join(e.plugins, "zonecert-dns-rfc2136")
	pids := processesOf(bin)
	if len(pids) != 1 {
		t.Fatalf("plugin processes %v, want one for the instance", pids)
	}
	if proc, err := os.FindProcess(pids[0]); err != nil {
		t.Fatal(err)
	} else if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
	close(release) // the held UPDATE lands; its answer has nobody to go to
	body := waitStored(t, p, len(names))
	if v := metric(body, `zonecert_plugin_restarts{instance="alpha"}`); v != 1 {
		t.Errorf("plugin restarts = %v, want 1", v)
	}
	if v := metric(body, `zonecert_provider_retried_records_total{code="other",instance="alpha"}`); v < 1 {
		t.Errorf("retried records = %v, want the batch's", v)
	}
	if pids2 := processesOf(bin); len(pids2) != 1 || pids2[0] == pids[0] {
		t.Errorf("plugin processes after the kill: %v (killed %d)", pids2, pids[0])
	}
	noTXT(t, e, names)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestDaemonRateLimitedProvider: a provider that refuses calls coming
// less than a second apart ("rate limited, retry after 1s") slows the
// instance down; no order fails. One certificate spans three zones, so
// three Present calls start at once and two are refused.
func TestDaemonRateLimitedProvider(t *testing.T) {
	zones := []testenv.Zone{{Name: "z1.test"}, {Name: "z2.test"}, {Name: "z3.test"}}
	e := &daemonEnv{e2eEnv: startE2E(t, testenv.BINDConfig{Zones: zones}), dir: t.TempDir()}
	e.plugins = filepath.Join(e.dir, "plugins")
	if err := os.MkdirAll(e.plugins, 0o700); err != nil {
		t.Fatal(err)
	}
	installTestPlugin(t, e)
	provider := fmt.Sprintf(`plugin = "testplug"
coalesce_window = "100ms"
settings = { nameserver = %q, tsig_key = "zonecert-test.", tsig_secret = "${ALPHA_TSIG_SECRET}", throttle = "1s" }`,
		netip.AddrPortFrom(e.bind.Primary, 53).String())
	cfg := e.stormConfig(t, provider, []string{"a.z1.test", "b.z2.test", "c.z3.test"})
	// Certificate c0 takes all three zones.
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(string(b) + "[[certificate]]\nname = \"c3\"\ndomains = [\"x.z1.test\", \"x.z2.test\", \"x.z3.test\"]\nprovider = \"alpha\"\n")
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := e.startDaemon(t, cfg)
	body := waitStored(t, p, 4)
	limited := metric(body, `zonecert_provider_retried_records_total{code="rate-limited",instance="alpha"}`)
	waited := metric(body, `zonecert_provider_limit_wait_seconds_total{instance="alpha"}`)
	t.Logf("records retried after a rate limit: %v; time waited on limits: %.1fs", limited, waited)
	if limited < 2 {
		t.Errorf("rate-limited records retried = %v, want at least 2", limited)
	}
	if waited < 1 {
		t.Errorf("calls waited %.2fs on the instance's backoff, want at least 1s", waited)
	}
	if v := metric(body, `zonecert_order_duration_seconds_count{result="failure"}`); v > 0 {
		t.Errorf("%v orders failed", v)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestCAClientUsesHTTP2: the client zonecert talks to the CA with (a
// custom TLS config, which turns Go's automatic HTTP/2 off unless forced)
// speaks HTTP/2 to Pebble, which offers it, so concurrent orders share one
// kept-alive connection.
func TestCAClientUsesHTTP2(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	p := testenv.StartPebble(t, testenv.PebbleOptions{DNSServer: "127.0.0.1:53"})
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, p.CABundlePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := httpClient(bundle)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, p.DirectoryURL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("the CA answered over %s, want HTTP/2", resp.Proto)
	}
}
