package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/providers/webhook/internal/fakewebhook"
)

// TestWildcardAndApexOrder issues a wildcard plus apex certificate through
// `zonecert obtain --dns webhook` against Pebble, with the fake webhook
// server mirroring its record sets into BIND9, and checks nothing is left.
// It needs the binaries of `make build` (ZONECERT_BIN) and Pebble.
func TestWildcardAndApexOrder(t *testing.T) {
	bin := os.Getenv("ZONECERT_BIN")
	if testing.Short() || bin == "" || os.Getenv("ZONECERT_PEBBLE") == "" {
		t.Skip("end-to-end: needs ZONECERT_BIN, ZONECERT_PEBBLE and BIND9 (make test)")
	}
	for _, b := range []string{"zonecert", "zonecert-dns-webhook"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Skip("not built: " + b)
		}
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}})
	fake := fakewebhook.StartWith(t, "example.test.", func(ctx context.Context, insert, remove []string) error {
		return b.Update(ctx, "example.test", insert, remove)
	})
	p := testenv.StartPebble(t, testenv.PebbleOptions{DNSServer: netip.AddrPortFrom(b.Primary, 53).String()})
	home := t.TempDir()
	bundle := filepath.Join(home, "pebble.pem")
	if err := os.WriteFile(bundle, p.CABundlePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(home, "state")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "zonecert"), "obtain",
		"--server", p.DirectoryURL, "--ca-bundle", bundle, "--agree-tos", "--email", "e2e@example.com",
		"--dns", "webhook", "--plugin-dir", bin, "--dns-resolver", b.Primary.String(),
		"--propagation-timeout", "30s", "--path", state, "-d", "*.example.test", "-d", "example.test")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "WEBHOOK_URL=" + fake.URL}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zonecert obtain: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(state, "live", "_.example.test", "fullchain.pem")); err != nil {
		t.Fatal(err)
	}
	vals, err := b.TXT(ctx, b.Primary, "_acme-challenge.example.test.")
	if err != nil || len(vals) > 0 {
		t.Fatalf("TXT left at _acme-challenge.example.test.: %q (%v)", vals, err)
	}
}
