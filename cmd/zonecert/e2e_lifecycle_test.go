package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/internal/testenv"
)

// lifecycle drives zonecert through a counting proxy in front of Pebble.
type lifecycle struct {
	*e2eEnv
	proxy *countingProxy
	home  string
	state string
}

func startLifecycle(t *testing.T) *lifecycle {
	t.Helper()
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}})
	home := t.TempDir()
	return &lifecycle{e2eEnv: e, proxy: startCountingProxy(t, e), home: home, state: filepath.Join(home, "state")}
}

func (l *lifecycle) obtain(ctx context.Context, t *testing.T, env []string, extra ...string) runResult {
	t.Helper()
	args := append([]string{"obtain",
		"--server", l.proxy.URL, "--ca-bundle", l.proxy.Bundle,
		"--agree-tos", "--email", "e2e@example.com",
		"--dns", "rfc2136", "--plugin-dir", l.bin,
		"--dns-resolver", l.bind.Primary.String(),
		"--propagation-timeout", "30s", "--path", l.state,
	}, extra...)
	return zonecert(ctx, t, l.bin, env, args...)
}

func (l *lifecycle) run(ctx context.Context, t *testing.T, env []string, cmd string, extra ...string) runResult {
	t.Helper()
	args := []string{cmd, "--path", l.state}
	if cmd != "delete" {
		args = append(args, "--ca-bundle", l.proxy.Bundle)
	}
	return zonecert(ctx, t, l.bin, env, append(args, extra...)...)
}

func mustOK(t *testing.T, what string, r runResult) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", what, r.code, r.stdout, r.stderr)
	}
}

func ariID(t *testing.T, c *x509.Certificate) string {
	t.Helper()
	id, err := acme.ARICertID(c)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// linkedID is the replaces a renewal of c ends up with at Pebble: c's ARI
// identifier, or none when c's serial has its top bit set. Pebble 2.10.1
// drops the zero byte RFC 9773 puts in front of such a serial, cannot find
// the certificate, and refuses the link; the renewal goes ahead without it
// (core.TestRenewalWhoseReplacesTheCAMisreads).
func linkedID(t *testing.T, c *x509.Certificate) string {
	t.Helper()
	if b := c.SerialNumber.Bytes(); b[0]&0x80 != 0 {
		return ""
	}
	return ariID(t, c)
}

// The whole lifecycle against one Pebble and one BIND: plans, renew with
// nothing due, an ARI-driven renewal with replaces and its deploy hook,
// revocation, settings from a fresh environment, dry runs, --reuse-key and
// delete.
func TestLifecycleEndToEnd(t *testing.T) {
	l := startLifecycle(t)
	ctx := t.Context()
	env := l.rfc2136Env(l.home)
	hookLog := filepath.Join(l.home, "deploy-a.log")
	hook := hookScript(t, l.home, "deploy-a.sh", hookLog)
	cfgFile := filepath.Join(l.home, "rfc2136.conf")
	conf := fmt.Sprintf("RFC2136_NAMESERVER=%s\nRFC2136_TSIG_KEY=%s\nRFC2136_TSIG_SECRET=%s\nRFC2136_TSIG_ALGORITHM=%s\n",
		netip.AddrPortFrom(l.bind.Primary, 53), l.bind.TSIGKey, l.bind.TSIGSecret, l.bind.TSIGAlgorithm)
	if err := os.WriteFile(cfgFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	// Three lineages from the environment (one with a deploy hook) and one
	// from a settings file, one after the other (overlapping obtains are
	// the fault suite's TestFaultOverlappingRuns); renew runs its orders
	// concurrently in one process.
	lineages := map[string][]string{
		"a.example.test": {"-d", "a.example.test", "--deploy-hook", hook},
		"b.example.test": {"-d", "b.example.test"},
		"c.example.test": {"-d", "c.example.test", "--reuse-key"},
		"d.example.test": {"-d", "d.example.test", "--dns-config", cfgFile},
	}
	for _, name := range slices.Sorted(maps.Keys(lineages)) {
		e := env
		if name == "d.example.test" {
			e = baseEnv(l.home)
		}
		mustOK(t, "obtain "+name, l.obtain(ctx, t, e, lineages[name]...))
	}
	if runs := hookRuns(t, hookLog); len(runs) != 1 {
		t.Fatalf("deploy hook ran %d times after obtain, want 1", len(runs))
	}
	l.proxy.take()

	t.Run("nothing due", func(t *testing.T) {
		r := l.run(ctx, t, env, "renew", "--json")
		mustOK(t, "renew", r)
		got := parseRenewJSON(t, r.stdout)
		if len(got) != len(lineages) {
			t.Fatalf("renew reported %d lineages, want %d:\n%s", len(got), len(lineages), r.stdout)
		}
		for name, res := range got {
			if res.Renewed || res.Reason != "not-due" || res.Error != "" || res.NextCheck.Before(time.Now()) {
				t.Errorf("%s: %+v, want not due with a future next_check", name, res)
			}
		}
		counts := l.proxy.take()
		if orders(counts) != 0 {
			t.Errorf("renew with nothing due placed %d orders", orders(counts))
		}
		t.Logf("first renew, nothing due: %d requests %v", total(counts), counts)
		if total(counts) > len(lineages)+1 {
			t.Errorf("%d requests, want at most one directory GET and one ARI GET per lineage: %v", total(counts), counts)
		}
		// The cached checks hold until Pebble's Retry-After: no request at all.
		r = l.run(ctx, t, env, "renew")
		mustOK(t, "renew", r)
		if n := total(l.proxy.take()); n != 0 {
			t.Errorf("second renew sent %d requests, want 0 (Retry-After not reached)", n)
		}
		t.Logf("renew:\n%s", r.stdout)
		if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != len(lineages) || !strings.Contains(lines[0], "not due") {
			t.Errorf("text output, want one 'not due' line per lineage:\n%s", r.stdout)
		}
		if strings.Contains(r.stderr, "plugin") {
			t.Errorf("a plugin was started with nothing due:\n%s", r.stderr)
		}
	})

	t.Run("the plan's CA bundle serves a renew without --ca-bundle", func(t *testing.T) {
		planFile := filepath.Join(l.state, "renewal", "b.example.test.json")
		orig, err := os.ReadFile(planFile)
		if err != nil {
			t.Fatal(err)
		}
		var recorded struct {
			CABundle string `json:"ca_bundle"`
		}
		if err := json.Unmarshal(orig, &recorded); err != nil || recorded.CABundle != l.proxy.Bundle {
			t.Errorf("the plan does not record --ca-bundle %s:\n%s", l.proxy.Bundle, orig)
		}
		expireCheck(t, l.state, "b.example.test")
		bare := []string{"renew", "--path", l.state, "--json", "--cert-name", "b.example.test"}
		r := zonecert(ctx, t, l.bin, env, bare...)
		mustOK(t, "renew without --ca-bundle", r)
		if got := parseRenewJSON(t, r.stdout)["b.example.test"]; got.Error != "" || got.Reason != "not-due" {
			t.Errorf("renew without --ca-bundle: %+v", got)
		}
		if strings.Contains(r.stderr, "renewal information unavailable") {
			t.Errorf("ARI was not reached:\n%s", r.stderr)
		}
		// A bundle that does not trust the CA: an error, not a fallback
		// to the lifetime rule.
		wrong := filepath.Join(l.home, "wrong-ca.pem")
		if err := os.WriteFile(wrong, selfSignedPEM(t), 0o644); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.WriteFile(planFile, orig, 0o644); err != nil {
				t.Fatal(err)
			}
		}()
		b, _ := os.ReadFile(planFile)
		if err := os.WriteFile(planFile, bytes.Replace(b, []byte(l.proxy.Bundle), []byte(wrong), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		expireCheck(t, l.state, "b.example.test")
		r = zonecert(ctx, t, l.bin, env, bare...)
		if r.code == 0 {
			t.Errorf("renew with an untrusted CA exits 0:\n%s\n%s", r.stdout, r.stderr)
		}
		if got := parseRenewJSON(t, r.stdout)["b.example.test"]; !strings.Contains(got.Error, "TLS") || got.Renewed {
			t.Errorf("renew with an untrusted CA: %+v, want a TLS error", got)
		}
	})

	t.Run("ARI window in the past renews exactly that lineage", func(t *testing.T) {
		old := liveLeaf(t, l.state, "a.example.test")
		oldPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: old.Raw})
		past := time.Now().Add(-2 * time.Hour).UTC()
		if err := l.pebble.SetRenewalInfo(ctx, oldPEM, fmt.Sprintf(
			`{"suggestedWindow":{"start":%q,"end":%q},"explanationURL":"https://ca.test/why"}`,
			past.Format(time.RFC3339), past.Add(time.Hour).Format(time.RFC3339))); err != nil {
			t.Fatal(err)
		}
		for name := range lineages {
			expireCheck(t, l.state, name) // six hours later
		}
		r := l.run(ctx, t, env, "renew", "--json")
		mustOK(t, "renew", r)
		got := parseRenewJSON(t, r.stdout)
		for name, res := range got {
			want := name == "a.example.test"
			if res.Renewed != want || res.Error != "" {
				t.Errorf("%s: %+v, renewed want %v", name, res, want)
			}
		}
		a := got["a.example.test"]
		if a.Reason != "ari" || a.Replaces != linkedID(t, old) {
			t.Errorf("a: reason %q replaces %q, want ari and %q", a.Reason, a.Replaces, linkedID(t, old))
		}
		if !strings.Contains(r.stderr, "https://ca.test/why") {
			t.Errorf("the explanationURL is not logged:\n%s", r.stderr)
		}
		counts := l.proxy.take()
		if orders(counts) != 1 {
			t.Errorf("%d orders, want 1: %v", orders(counts), counts)
		}
		// live/ now points at the second archived version, as one set.
		link, err := os.Readlink(filepath.Join(l.state, "live", "a.example.test"))
		if err != nil || filepath.Base(link) != "2" {
			t.Errorf("live/a.example.test -> %q (%v), want archive version 2", link, err)
		}
		verifyChain(ctx, t, l.pebble, filepath.Join(l.state, "live", "a.example.test", "fullchain.pem"), []string{"a.example.test"})
		if n := liveLeaf(t, l.state, "a.example.test"); n.SerialNumber.Cmp(old.SerialNumber) == 0 {
			t.Error("live certificate unchanged")
		}
		runs := hookRuns(t, hookLog)
		if len(runs) != 2 {
			t.Fatalf("deploy hook ran %d times in all, want 2 (obtain, renewal)", len(runs))
		}
		h := runs[1]
		if h["RENEWED_LINEAGE"] != filepath.Join(l.state, "live", "a.example.test") || h["RENEWED_DOMAINS"] != "a.example.test" {
			t.Errorf("hook env RENEWED_LINEAGE=%q RENEWED_DOMAINS=%q", h["RENEWED_LINEAGE"], h["RENEWED_DOMAINS"])
		}
		for k := range h {
			if strings.HasPrefix(k, "RFC2136") || strings.HasPrefix(k, "ZONECERT") {
				t.Errorf("the hook saw %s", k)
			}
		}
		checkModes(t, l.state)
	})

	t.Run("revoked lineage renews next", func(t *testing.T) {
		old := liveLeaf(t, l.state, "b.example.test")
		// Without --ca-bundle: revoke trusts the CA through the bundle the
		// lineage's plan recorded, as renew does.
		r := zonecert(ctx, t, l.bin, env, "revoke", "--path", l.state, "--cert-name", "b.example.test", "--reason", "superseded")
		mustOK(t, "revoke without --ca-bundle", r)
		st, err := l.pebble.CertStatus(ctx, old.SerialNumber)
		if err != nil || st.Status != "Revoked" {
			t.Fatalf("Pebble says %+v (%v), want Revoked", st, err)
		}
		r = l.run(ctx, t, env, "renew", "--json")
		mustOK(t, "renew", r)
		got := parseRenewJSON(t, r.stdout)
		if b := got["b.example.test"]; !b.Renewed || b.Reason != "ari" || b.Replaces != linkedID(t, old) {
			t.Errorf("b after revocation: %+v", b)
		}
		for _, n := range []string{"c.example.test", "d.example.test"} {
			if got[n].Renewed {
				t.Errorf("%s renewed too", n)
			}
		}
	})

	t.Run("settings from a fresh environment, no secret stored", func(t *testing.T) {
		before := snapshot(t, l.state)
		r := l.run(ctx, t, baseEnv(l.home), "renew", "--force", "--cert-name", "c.example.test")
		if r.code != exitUsage || !strings.Contains(r.stdout+r.stderr, "RFC2136_") {
			t.Fatalf("renew without the provider's variables: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		sameSnapshot(t, "renew without the environment", before, snapshot(t, l.state))
		oldKey, _ := os.ReadFile(filepath.Join(l.state, "live", "c.example.test", "privkey.pem"))
		r = l.run(ctx, t, env, "renew", "--force", "--cert-name", "c.example.test", "--cert-name", "d.example.test", "--json")
		mustOK(t, "renew --force", r)
		got := parseRenewJSON(t, r.stdout)
		for _, n := range []string{"c.example.test", "d.example.test"} {
			if !got[n].Renewed || got[n].Reason != "forced" {
				t.Errorf("%s: %+v, want renewed (forced)", n, got[n])
			}
		}
		newKey, _ := os.ReadFile(filepath.Join(l.state, "live", "c.example.test", "privkey.pem"))
		if !bytes.Equal(oldKey, newKey) {
			t.Error("--reuse-key lineage got a new key")
		}
		if hits := grepTree(t, l.state, []byte(l.bind.TSIGSecret)); len(hits) > 0 {
			t.Errorf("the TSIG secret is stored in %v", hits)
		}
		plan, _ := os.ReadFile(filepath.Join(l.state, "renewal", "d.example.test.json"))
		if !bytes.Contains(plan, []byte(cfgFile)) {
			t.Errorf("plan d does not name its settings file:\n%s", plan)
		}
		plan, _ = os.ReadFile(filepath.Join(l.state, "renewal", "c.example.test.json"))
		if !bytes.Contains(plan, []byte(`"RFC2136_TSIG_SECRET"`)) {
			t.Errorf("plan c does not name its environment variables:\n%s", plan)
		}
	})

	t.Run("dry runs store nothing and run no hook", func(t *testing.T) {
		before := snapshot(t, l.state)
		runs := len(hookRuns(t, hookLog))
		l.proxy.take()
		r := l.run(ctx, t, env, "renew", "--dry-run", "--cert-name", "a.example.test", "--pre-hook", "true")
		mustOK(t, "renew --dry-run", r)
		if !strings.Contains(r.stderr, "would run deploy hook for a.example.test: "+hook) || !strings.Contains(r.stderr, "would run pre hook: true") {
			t.Errorf("dry run does not list the hooks:\n%s", r.stderr)
		}
		r = l.obtain(ctx, t, env, "-d", "e.example.test", "--dry-run", "--deploy-hook", hook)
		mustOK(t, "obtain --dry-run", r)
		sameSnapshot(t, "a dry run", before, snapshot(t, l.state))
		if n := len(hookRuns(t, hookLog)); n != runs {
			t.Errorf("a dry run ran the deploy hook (%d runs, was %d)", n, runs)
		}
		if n := orders(l.proxy.take()); n != 2 {
			t.Errorf("the dry runs placed %d orders, want 2", n)
		}
	})

	t.Run("a relative --path reaches the hook directories", func(t *testing.T) {
		dir := filepath.Join(l.state, "renewal-hooks", "deploy")
		marker := filepath.Join(l.home, "dir-hook-ran")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		hook := filepath.Join(dir, "10-dump")
		if err := os.WriteFile(hook, []byte("#!/bin/sh\necho \"$RENEWED_LINEAGE\" > "+marker+"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(filepath.Join(l.state, "renewal-hooks"))
		rel, err := filepath.Rel(l.home, l.state)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, filepath.Join(l.bin, "zonecert"), "renew", "--force", "--cert-name", "b.example.test",
			"--path", rel, "--ca-bundle", l.proxy.Bundle)
		cmd.Dir, cmd.Env = l.home, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("renew --path %s: %v\n%s", rel, err, out)
		}
		if b, err := os.ReadFile(marker); err != nil || strings.TrimSpace(string(b)) != filepath.Join(l.state, "live", "b.example.test") {
			t.Errorf("the directory's deploy hook saw RENEWED_LINEAGE %q (%v), want the absolute lineage", b, err)
		}
	})

	t.Run("a dry run leaves the replacement to the real renewal", func(t *testing.T) {
		old := liveLeaf(t, l.state, "a.example.test")
		l.proxy.take()
		r := l.run(ctx, t, env, "renew", "--dry-run", "--cert-name", "a.example.test", "--json")
		mustOK(t, "renew --dry-run", r)
		if got := parseRenewJSON(t, r.stdout)["a.example.test"]; got.Replaces != "" {
			t.Errorf("the dry run's order replaces %q, want nothing", got.Replaces)
		}
		r = l.run(ctx, t, env, "renew", "--force", "--cert-name", "a.example.test", "--json")
		mustOK(t, "renew --force after a dry run", r)
		got := parseRenewJSON(t, r.stdout)["a.example.test"]
		if !got.Renewed {
			t.Errorf("the real renewal after a dry run: %+v, want renewed", got)
		}
		// Pebble refuses the link of some serials whatever the dry run did
		// (linkedID): only a linkable one shows the dry run left it alone.
		if want := linkedID(t, old); want != "" {
			if got.Replaces != want {
				t.Errorf("the real renewal after a dry run replaces %q, want %s", got.Replaces, want)
			}
			if strings.Contains(r.stderr, "refused the replacement") {
				t.Errorf("the CA refused the real renewal's replacement:\n%s", r.stderr)
			}
		}
		// 409 is alreadyReplaced; Pebble's 400s are the nonces it rejects.
		if n := l.proxy.take()["POST /order-plz 409"]; n != 0 {
			t.Errorf("%d orders refused as already replaced", n)
		}
	})

	t.Run("another CA is refused without --force", func(t *testing.T) {
		before := snapshot(t, l.state)
		r := zonecert(ctx, t, l.bin, env, l.obtainArgs(l.state, "-d", "a.example.test")...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "--force") {
			t.Fatalf("obtain from another CA: exit %d\n%s", r.code, r.stderr)
		}
		sameSnapshot(t, "a refused obtain", before, snapshot(t, l.state))
		// A dry run stores nothing, so it may rehearse on another CA.
		r = zonecert(ctx, t, l.bin, env, l.obtainArgs(l.state, "-d", "a.example.test", "--dry-run")...)
		mustOK(t, "obtain --dry-run from another CA", r)
		after := snapshot(t, l.state)
		for k := range after {
			if _, ok := before[k]; !ok && strings.HasPrefix(k, "accounts/") {
				delete(after, k) // the other CA's new account
			}
		}
		sameSnapshot(t, "a dry run on another CA", before, after)
	})

	t.Run("delete", func(t *testing.T) {
		r := l.run(ctx, t, env, "delete", "--cert-name", "d.example.test")
		if r.code != exitUsage || !strings.Contains(r.stderr, "--yes") {
			t.Fatalf("delete without a terminal or --yes: exit %d\n%s", r.code, r.stderr)
		}
		mustOK(t, "delete", l.run(ctx, t, env, "delete", "--cert-name", "d.example.test", "--yes"))
		for _, p := range []string{"live/d.example.test", "archive/d.example.test", "renewal/d.example.test.json"} {
			if _, err := os.Lstat(filepath.Join(l.state, p)); !os.IsNotExist(err) {
				t.Errorf("%s still there: %v", p, err)
			}
		}
		r = l.run(ctx, t, env, "renew", "--json")
		mustOK(t, "renew after delete", r)
		if _, ok := parseRenewJSON(t, r.stdout)["d.example.test"]; ok {
			t.Error("renew still knows the deleted lineage")
		}
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		plan := filepath.Join(l.state, "renewal", "b.example.test.json")
		good, err := os.ReadFile(plan)
		if err != nil {
			t.Fatal(err)
		}
		notExec := filepath.Join(l.home, "not-executable.sh")
		if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name   string
			plan   string // replaces b's plan for the case
			args   []string
			stderr string
		}{
			{name: "corrupt plan", plan: `{"version": 1, "name": "b.example.test", "domains": [`,
				args: []string{"renew", "--cert-name", "b.example.test", "--force"}, stderr: "corrupt"},
			{name: "plan from a newer zonecert", plan: strings.Replace(string(good), `"version": 1`, `"version": 99`, 1),
				args: []string{"renew", "--cert-name", "b.example.test", "--force"}, stderr: "newer zonecert"},
			{name: "missing pre hook", args: []string{"renew", "--force", "--pre-hook", "/nonexistent/hook"}, stderr: "/nonexistent/hook"},
			{name: "non-executable post hook", args: []string{"renew", "--force", "--post-hook", notExec}, stderr: "not executable"},
			{name: "revoke unknown name", args: []string{"revoke", "--cert-name", "nosuch.example.test"}, stderr: "nosuch.example.test"},
			{name: "renew unknown name", args: []string{"renew", "--cert-name", "nosuch.example.test"}, stderr: "nosuch.example.test"},
			{name: "delete unknown name", args: []string{"delete", "--yes", "--cert-name", "nosuch.example.test"}, stderr: "nosuch.example.test"},
			{name: "bad revocation reason", args: []string{"revoke", "--cert-name", "b.example.test", "--reason", "bored"}, stderr: "bored"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.plan != "" {
					if err := os.WriteFile(plan, []byte(tc.plan), 0o600); err != nil {
						t.Fatal(err)
					}
					defer os.WriteFile(plan, good, 0o600)
				}
				before := snapshot(t, l.state)
				l.proxy.take()
				r := l.run(ctx, t, env, tc.args[0], tc.args[1:]...)
				t.Logf("exit %d: %s%s", r.code, r.stdout, r.stderr)
				if r.code == 0 || !strings.Contains(r.stdout+r.stderr, tc.stderr) {
					t.Errorf("exit %d, want failure mentioning %q\nstdout:\n%s\nstderr:\n%s", r.code, tc.stderr, r.stdout, r.stderr)
				}
				sameSnapshot(t, tc.name, before, snapshot(t, l.state))
				if n := orders(l.proxy.take()); n != 0 {
					t.Errorf("%d orders placed", n)
				}
			})
		}
		// A deploy hook that is gone fails obtain before anything is ordered.
		before := snapshot(t, l.state)
		r := l.obtain(ctx, t, env, "-d", "f.example.test", "--deploy-hook", notExec)
		if r.code != exitUsage || !strings.Contains(r.stderr, "not executable") {
			t.Errorf("obtain with a non-executable deploy hook: exit %d\n%s", r.code, r.stderr)
		}
		sameSnapshot(t, "obtain with a bad hook", before, snapshot(t, l.state))
	})

	t.Run("failing deploy hook keeps the certificate", func(t *testing.T) {
		dir := filepath.Join(l.state, "renewal-hooks", "deploy")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "10-fail"), []byte("#!/bin/sh\necho reload failed >&2\nexit 3\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(filepath.Join(l.state, "renewal-hooks"))
		old := liveLeaf(t, l.state, "c.example.test")
		r := l.run(ctx, t, env, "renew", "--force", "--cert-name", "c.example.test", "--json")
		if r.code != exitHook {
			t.Fatalf("exit %d, want %d\n%s", r.code, exitHook, r.stderr)
		}
		got := parseRenewJSON(t, r.stdout)["c.example.test"]
		if !got.Renewed || !strings.Contains(got.Error, "10-fail") {
			t.Errorf("result %+v, want renewed with the hook's failure", got)
		}
		if !strings.Contains(r.stderr, "reload failed") {
			t.Errorf("the hook's output is not logged:\n%s", r.stderr)
		}
		if liveLeaf(t, l.state, "c.example.test").SerialNumber.Cmp(old.SerialNumber) == 0 {
			t.Error("the new certificate was not kept")
		}
	})

	t.Run("revoke with the certificate's key, then delete", func(t *testing.T) {
		leaf := liveLeaf(t, l.state, "c.example.test")
		key := filepath.Join(l.home, "c-key.pem")
		b, err := os.ReadFile(filepath.Join(l.state, "live", "c.example.test", "privkey.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(key, b, 0o600); err != nil {
			t.Fatal(err)
		}
		r := l.run(ctx, t, env, "revoke", "--cert-name", "c.example.test", "--reason", "keyCompromise", "--key-file", key, "--delete")
		mustOK(t, "revoke --key-file --delete", r)
		st, err := l.pebble.CertStatus(ctx, leaf.SerialNumber)
		if err != nil || st.Status != "Revoked" || st.Reason == nil || *st.Reason != int(acme.ReasonKeyCompromise) {
			t.Errorf("Pebble says %+v (%v), want Revoked for keyCompromise", st, err)
		}
		if _, err := os.Lstat(filepath.Join(l.state, "live", "c.example.test")); !os.IsNotExist(err) {
			t.Errorf("--delete left live/c.example.test: %v", err)
		}
	})
}
