package main

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// BenchmarkDoctor is the doctor's wall time as a user sees it (the binary,
// real BIND with a secondary): one name, 20 names in 3 zones, and one name
// with --write-test through the rfc2136 plugin.
func BenchmarkDoctor(b *testing.B) {
	bin := binaries(b)
	bind := testenv.StartBIND(b, testenv.BINDConfig{Secondary: true,
		Zones: []testenv.Zone{{Name: "a.test"}, {Name: "b.test"}, {Name: "c.test"}}})
	env := baseEnv(b.TempDir(),
		"RFC2136_NAMESERVER="+netip.AddrPortFrom(bind.Primary, 53).String(),
		"RFC2136_TSIG_KEY="+bind.TSIGKey, "RFC2136_TSIG_SECRET="+bind.TSIGSecret, "RFC2136_TSIG_ALGORITHM="+bind.TSIGAlgorithm)
	base := []string{"doctor", "--dns-resolver", bind.Primary.String(), "--system-resolver", bind.Primary.String()}
	var twenty []string
	for i := range 20 {
		twenty = append(twenty, "-d", fmt.Sprintf("h%d.%c.test", i, 'a'+i%3))
	}
	for _, bc := range []struct {
		name string
		args []string
	}{
		{"one-name", []string{"-d", "www.a.test"}},
		{"20-names-3-zones", twenty},
		{"write-test", []string{"-d", "www.a.test", "--dns", "rfc2136", "--plugin-dir", bin, "--write-test"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				r := zonecert(ctx, b, bin, env, append(base, bc.args...)...)
				cancel()
				if r.code != 0 {
					b.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
				}
			}
		})
	}
}
