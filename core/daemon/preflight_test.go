package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/preflight"
	"github.com/zonecert/zonecert/internal/testenv"
)

// The gauge holds the last preflight's errors per certificate and check,
// is cleared when a later order passes its preflight, and the log names
// each problem with its fix.
func TestPreflightProblemsMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := newPreflightState(reg)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	stopped := &core.Error{Kind: core.KindDNS, Err: fmt.Errorf("preflight: %w", preflight.Problems{
		{Check: preflight.CheckCAA, Name: "a.example", Severity: preflight.Error, Message: "CAA forbids", Fix: "add CAA"},
		{Check: preflight.CheckCAA, Name: "b.example", Severity: preflight.Error, Message: "CAA forbids", Fix: "add CAA"},
		{Check: preflight.CheckDNSSEC, Name: "example.", Severity: preflight.Error, Message: "DS matches no DNSKEY", Fix: "publish the DS"},
	})}
	p.record(t.Context(), "web", stopped, log)
	p.record(t.Context(), "mail", nil, log)
	want := `
# HELP zonecert_preflight_problems Errors found by the last preflight of each certificate, by check (delegation, challenge-path, caa, dnssec); 0 or absent when it passed.
# TYPE zonecert_preflight_problems gauge
zonecert_preflight_problems{certificate="web",check="caa"} 2
zonecert_preflight_problems{certificate="web",check="dnssec"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "zonecert_preflight_problems"); err != nil {
		t.Error(err)
	}
	if !strings.Contains(logs.String(), "DS matches no DNSKEY") || !strings.Contains(logs.String(), "fix=\"publish the DS\"") {
		t.Errorf("log lacks the problem and its fix:\n%s", logs.String())
	}
	// A later order that gets past its preflight clears the certificate.
	p.record(t.Context(), "web", &core.Error{Kind: core.KindCA, Err: fmt.Errorf("CA refused")}, log)
	if n := testutil.CollectAndCount(p.problems); n != 0 {
		t.Errorf("%d series left after a passing preflight", n)
	}
}

// The daemon runs the preflight before each order: a certificate whose
// challenge name loops is stopped there and shows in the metric, while
// another in the same zone is issued.
func TestDaemonPreflightStopsOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs BIND9, Pebble and the rfc2136 plugin")
	}
	b := testenv.StartBIND(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "inproc.test", Records: []string{
		"_acme-challenge.loop CNAME a.loop", "a.loop CNAME _acme-challenge.loop"}}}})
	p := testenv.StartPebble(t, testenv.PebbleOptions{DNSServer: netip.AddrPortFrom(b.Primary, 53).String(), NonceReject: 20})
	bin := testenv.PluginBinary(t, "rfc2136", "../../providers/rfc2136")
	w := &world{bind: b, pebble: p, plugins: filepath.Dir(bin), dir: t.TempDir()}
	d := w.daemon(t, w.config(t, "authoritative", "30s", "loop", "ok"))
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx, nil) }()
	eventually(t, "ok stored", func() bool { return testutil.CollectAndCount(d.m.notAfter) == 1 })
	eventually(t, "loop's preflight problem", func() bool {
		return testutil.ToFloat64(d.pre.problems.WithLabelValues("loop", preflight.CheckChallenge)) == 1
	})
	if n := testutil.CollectAndCount(d.pre.problems); n != 1 {
		t.Errorf("%d preflight series, want only loop's", n)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}
