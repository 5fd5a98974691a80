package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

var daemonCerts = []daemonCert{
	{Name: "one", Domains: []string{"*.alpha.test", "alpha.test"}, Provider: "alpha"},
	{Name: "two", Domains: []string{"www.beta.test"}, Provider: "beta"},
	// One order across two zones on two instances with different keys: a
	// record sent to the wrong instance is refused by BIND.
	{Name: "mixed", Domains: []string{"mixed.alpha.test", "mixed.beta.test"},
		Zones: map[string]string{"alpha.test": "alpha", "beta.test": "beta"}},
}

// challengeNames are the TXT names the certificates' orders publish.
func challengeNames(certs []daemonCert) []string {
	var out []string
	for _, c := range certs {
		for _, d := range c.Domains {
			n := "_acme-challenge." + strings.TrimPrefix(d, "*.") + "."
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// TestDaemonLifecycle runs `zonecert run` as systemd would: it obtains three
// certificates (one spanning two providers), serves metrics, takes a fourth
// on SIGHUP, refuses a bad config on SIGHUP and keeps running, and on
// SIGTERM exits 0 leaving no plugin process, TXT record or journal entry.
func TestDaemonLifecycle(t *testing.T) {
	e := startDaemonEnv(t)
	ctx := t.Context()
	cfg := e.writeConfig(t, "authoritative", daemonCerts, "")
	start := time.Now()
	p := e.startDaemon(t, cfg)
	rec, _ := p.waitRecord(t, 0, 60*time.Second, map[string]string{"msg": "metrics listening"})
	addr := rec["addr"].(string)
	for _, c := range daemonCerts {
		p.waitRecord(t, 0, 90*time.Second, map[string]string{"msg": "certificate stored", "cert": c.Name})
	}
	t.Logf("three certificates obtained in %v", time.Since(start).Round(time.Millisecond))
	for _, c := range daemonCerts {
		verifyChain(ctx, t, e.pebble, filepath.Join(e.dir, "state", "live", c.Name, "fullchain.pem"), c.Domains)
	}

	code, body := get(ctx, t, addr, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, c := range daemonCerts {
		want := leafNotAfter(t, filepath.Join(e.dir, "state", "live", c.Name, "cert.pem"))
		if v := metric(body, fmt.Sprintf(`zonecert_certificate_not_after_seconds{name=%q}`, c.Name)); v != float64(want.Unix()) {
			t.Errorf("not-after gauge of %s = %v, want %d (%v)", c.Name, v, want.Unix(), want)
		}
	}
	for series, want := range map[string]float64{
		`zonecert_orders_total{reason="missing"}`:                 3,
		`zonecert_order_duration_seconds_count{result="success"}`: 3,
		`zonecert_propagation_wait_seconds_count`:                 3,
		`zonecert_certificates_managed`:                           3,
	} {
		if v := metric(body, series); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
	// Each instance serves two orders; their records may share one
	// coalesced call when they arrive together.
	for _, inst := range []string{"alpha", "beta"} {
		if v := metric(body, fmt.Sprintf(`zonecert_plugin_rpc_duration_seconds_count{instance=%q,method="present"}`, inst)); v < 1 {
			t.Errorf("present calls of instance %s = %v, want at least 1", inst, v)
		}
	}
	if v := metric(body, "zonecert_acme_bad_nonce_total"); v < 0 {
		t.Errorf("no badNonce counter in\n%s", body)
	}
	if v := metric(body, `zonecert_acme_gate_wait_seconds_total{request="new-order"}`); v < 0 {
		t.Errorf("no newOrder gate counter in\n%s", body)
	}
	if code, body := get(ctx, t, addr, "/healthz"); code != 200 || !strings.HasPrefix(body, "ok") {
		t.Errorf("/healthz = %d %q", code, body)
	}

	// SIGHUP with a fourth certificate: it is obtained.
	four := daemonCert{Name: "four", Domains: []string{"four.beta.test"}, Provider: "beta"}
	all := append(slices.Clone(daemonCerts), four)
	e.writeConfig(t, "authoritative", all, "")
	mark := p.count()
	hup := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitRecord(t, mark, 30*time.Second, map[string]string{"msg": "order starting", "cert": "four"})
	t.Logf("SIGHUP to the new certificate's order: %v", time.Since(hup).Round(time.Microsecond))
	p.waitRecord(t, mark, 60*time.Second, map[string]string{"msg": "certificate stored", "cert": "four"})
	verifyChain(ctx, t, e.pebble, filepath.Join(e.dir, "state", "live", "four", "fullchain.pem"), four.Domains)

	// A bad config on SIGHUP is refused; the running one stays.
	e.writeConfig(t, "authoritative", all[:1], "[daemon.extra]\nnope = 1\n")
	mark = p.count()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rec, _ = p.waitRecord(t, mark, 30*time.Second, map[string]string{"msg": "configuration refused; the running one stays"})
	if msg := fmt.Sprint(rec["error"]); !strings.Contains(msg, "zonecert.toml:") || !strings.Contains(msg, `unknown key "daemon.extra"`) {
		t.Errorf("refusal does not name the line: %s", msg)
	}
	_, body = get(ctx, t, addr, "/metrics")
	if v := metric(body, "zonecert_certificates_managed"); v != 4 {
		t.Errorf("after a refused reload %v certificates are managed, want 4", v)
	}
	if v := metric(body, `zonecert_config_reloads_total{result="refused"}`); v != 1 {
		t.Errorf("refused reloads = %v", v)
	}
	if code, _ := get(ctx, t, addr, "/healthz"); code != 200 {
		t.Errorf("/healthz after a refused reload = %d", code)
	}
	deployed, _ := os.ReadFile(filepath.Join(e.dir, "deployed"))
	for _, c := range all {
		if !strings.Contains(string(deployed), c.Name+"\n") {
			t.Errorf("deploy hook did not run for %s (ran for %q)", c.Name, deployed)
		}
	}

	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	// Every check and order went through: no plan or ARI trouble, no
	// failed order (other warnings, such as a plugin slow to exit on a
	// loaded machine, are not this test's business).
	for _, r := range p.records {
		if msg := fmt.Sprint(r["msg"]); msg == "checking certificate" || msg == "order failed" {
			t.Errorf("unexpected record: %v", r)
		}
	}
	msgs := strings.Join(p.notify.messages(), "\n")
	for _, m := range []string{"READY=1", "RELOADING=1", "STOPPING=1"} {
		if !strings.Contains(msgs, m) {
			t.Errorf("sd_notify never got %s (got %q)", m, msgs)
		}
	}
	e.checkClean(t, all)
}

// checkClean asserts nothing is left: no plugin process of this test's
// plugin directory, no TXT record, no journal entry.
func (e *daemonEnv) checkClean(t *testing.T, certs []daemonCert) {
	t.Helper()
	bin := filepath.Join(e.plugins, "zonecert-dns-rfc2136")
	// The plugins got SIGTERM/kill from the host; give the kernel a moment to reap.
	deadline := time.Now().Add(5 * time.Second)
	for len(processesOf(bin)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pids := processesOf(bin); len(pids) > 0 {
		t.Errorf("plugin processes left: %v", pids)
	}
	for _, n := range challengeNames(certs) {
		e.noTXT(t.Context(), t, n)
	}
	ents, err := os.ReadDir(filepath.Join(e.dir, "state", "journal"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		var names []string
		for _, x := range ents {
			names = append(names, x.Name())
		}
		t.Errorf("journal entries left: %v", names)
	}
}

// TestDaemonKilledMidOrder: the daemon is killed with SIGKILL while its
// record is published; a restart completes the order and removes the
// record the dead process left.
func TestDaemonKilledMidOrder(t *testing.T) {
	e := startDaemonEnv(t)
	certs := daemonCerts[2:] // the two-provider order
	// A fixed wait holds the order with its records published.
	cfg := e.writeConfig(t, "fixed:60s", certs, "")
	p := e.startDaemon(t, cfg)
	// Wait until both zones serve their record: the order is then inside
	// its fixed wait, with journal entries and records to clean up.
	deadline := time.Now().Add(60 * time.Second)
	for _, n := range challengeNames(certs) {
		for {
			vals, err := e.bind.TXT(t.Context(), e.bind.Primary, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(vals) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("record at %s not published", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if code := p.stop(t, syscall.SIGKILL); code != -1 {
		t.Logf("exit code after SIGKILL: %d", code)
	}

	e.writeConfig(t, "authoritative", certs, "")
	p = e.startDaemon(t, cfg)
	p.waitRecord(t, 0, 90*time.Second, map[string]string{"msg": "certificate stored", "cert": "mixed"})
	verifyChain(t.Context(), t, e.pebble, filepath.Join(e.dir, "state", "live", "mixed", "fullchain.pem"), certs[0].Domains)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("SIGTERM: exit %d", code)
	}
	e.checkClean(t, certs)
}

func leafNotAfter(t *testing.T, path string) time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.NotAfter
}
