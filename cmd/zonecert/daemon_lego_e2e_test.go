package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDaemonLegoInstance: `zonecert run` with a lego instance (lego's
// dnsupdate against BIND9) whose settings name no resolvers: the daemon
// passes its [dns] resolvers, which the bridge requires, and the instance's
// settings are the chosen lego provider's. Wildcard plus apex are issued
// and no TXT record is left.
func TestDaemonLegoInstance(t *testing.T) {
	e := startDaemonEnv(t)
	lego := filepath.Join(e.bin, "zonecert-dns-lego")
	if _, err := os.Stat(lego); err != nil {
		t.Skip("zonecert-dns-lego not built (make build)")
	}
	if err := os.Symlink(lego, filepath.Join(e.plugins, "zonecert-dns-lego")); err != nil {
		t.Fatal(err)
	}
	// A variable of the chosen provider in the daemon's environment is
	// hidden from the instance: were it passed, lego would use it.
	e.env = append(e.env, "DNSUPDATE_TSIG_FILE=/nonexistent/tsig.key")
	extra := fmt.Sprintf(`
[providers.lego]
plugin = "lego"
settings = { provider = "dnsupdate", dnsupdate_nameserver = %q, dnsupdate_tsig_key = "zonecert-test.", dnsupdate_tsig_secret = "${ALPHA_TSIG_SECRET}", dnsupdate_tsig_algorithm = %q }
`, netip.AddrPortFrom(e.bind.Primary, 53).String(), e.bind.TSIGAlgorithm)
	cert := daemonCert{Name: "viaLego", Domains: []string{"*.alpha.test", "alpha.test"}, Provider: "lego"}
	cfg := e.writeConfig(t, "authoritative", []daemonCert{cert}, extra)
	p := e.startDaemon(t, cfg)
	start := time.Now()
	p.waitRecord(t, 0, 60*time.Second, map[string]string{"msg": "certificate stored", "cert": cert.Name})
	t.Logf("wildcard and apex through lego in %v", time.Since(start).Round(time.Millisecond))
	ctx := t.Context()
	verifyChain(ctx, t, e.pebble, filepath.Join(e.dir, "state", "live", cert.Name, "fullchain.pem"), cert.Domains)
	e.noTXT(ctx, t, "_acme-challenge.alpha.test.")
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	// lego's metadata does not mark DNSUPDATE_TSIG_SECRET secret; the
	// daemon's debug log must not show it all the same.
	logs, _ := filepath.Glob(filepath.Join(e.dir, "daemon-*.log"))
	for _, l := range logs {
		if b, _ := os.ReadFile(l); strings.Contains(string(b), e.bind.TSIGSecret) {
			t.Errorf("the TSIG secret appears in the daemon's log %s", l)
		}
	}
}
