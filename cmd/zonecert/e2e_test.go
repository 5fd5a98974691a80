package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/internal/testenv"
)

// e2eEnv is one BIND primary serving three zones and one Pebble validating
// against it, shared by the subtests of a test.
type e2eEnv struct {
	bin    string
	bind   *testenv.BIND
	pebble *testenv.Pebble
	bundle string // Pebble's TLS trust, for --ca-bundle
}

func startE2E(t *testing.T, cfg testenv.BINDConfig) *e2eEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: needs BIND9, Pebble and root (run make test)")
	}
	bin := binaries(t)
	b := testenv.StartBIND(t, cfg)
	p := testenv.StartPebble(t, testenv.PebbleOptions{
		DNSServer:   chasingResolver(t, netip.AddrPortFrom(b.Primary, 53).String()),
		NonceReject: 20,
	})
	bundle := filepath.Join(t.TempDir(), "pebble-tls.pem")
	if err := os.WriteFile(bundle, p.CABundlePEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &e2eEnv{bin: bin, bind: b, pebble: p, bundle: bundle}
}

// rfc2136Env is the environment zonecert gets: the provider's settings and
// nothing else of the test process.
func (e *e2eEnv) rfc2136Env(home string) []string {
	return baseEnv(home,
		"RFC2136_NAMESERVER="+netip.AddrPortFrom(e.bind.Primary, 53).String(),
		"RFC2136_TSIG_KEY="+e.bind.TSIGKey,
		"RFC2136_TSIG_SECRET="+e.bind.TSIGSecret,
		"RFC2136_TSIG_ALGORITHM="+e.bind.TSIGAlgorithm,
	)
}

// obtainArgs are the flags every run shares; state goes to path.
func (e *e2eEnv) obtainArgs(path string, extra ...string) []string {
	return append([]string{"obtain",
		"--server", e.pebble.DirectoryURL, "--ca-bundle", e.bundle,
		"--agree-tos", "--email", "e2e@example.com",
		"--dns", "rfc2136", "--plugin-dir", e.bin,
		"--dns-resolver", e.bind.Primary.String(),
		"--propagation-timeout", "30s",
		"--path", path,
	}, extra...)
}

// noTXT asserts the primary serves no TXT value at name any more.
func (e *e2eEnv) noTXT(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	vals, err := e.bind.TXT(ctx, e.bind.Primary, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) > 0 {
		t.Errorf("TXT records left at %s: %q", name, vals)
	}
}

var e2eZones = testenv.BINDConfig{Zones: []testenv.Zone{
	{Name: "example.test", Records: []string{
		// The challenge of cname.example.test is delegated into other.test.
		"_acme-challenge.cname CNAME delegated.other.test.",
		// With --challenge-alias zonecert publishes at the target directly.
		"_acme-challenge.alias CNAME alias-target.other.test.",
		"www A 192.0.2.1",
	}},
	{Name: "other.test"},
	// Delegated from example.test (NS + glue added by StartBIND).
	{Name: "sub.example.test"},
}}

func TestObtainEndToEnd(t *testing.T) {
	e := startE2E(t, e2eZones)
	cases := []struct {
		name    string
		domains []string
		txt     []string // challenge names that must be empty afterwards
		extra   []string
	}{
		{"wildcard and apex", []string{"*.example.test", "example.test"}, []string{"_acme-challenge.example.test."}, nil},
		{"CNAME into another zone", []string{"cname.example.test"}, []string{"delegated.other.test.", "_acme-challenge.cname.example.test."}, nil},
		{"delegated sub-zone", []string{"host.sub.example.test", "*.sub.example.test"}, []string{"_acme-challenge.host.sub.example.test.", "_acme-challenge.sub.example.test."}, nil},
		{"challenge alias", []string{"alias.example.test"}, []string{"alias-target.other.test."},
			[]string{"--challenge-alias", "alias.example.test=alias-target.other.test", "--zone", "alias-target.other.test=other.test"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			home := t.TempDir()
			state := filepath.Join(home, "state")
			args := e.obtainArgs(state, append([]string{"--json"}, tc.extra...)...)
			for _, d := range tc.domains {
				args = append(args, "-d", d)
			}
			r := zonecert(ctx, t, e.bin, e.rfc2136Env(home), args...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
			}
			var res struct {
				CertName string   `json:"cert_name"`
				Domains  []string `json:"domains"`
				Files    struct {
					FullChain, PrivKey string
				} `json:"files"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("--json output %q: %v", r.stdout, err)
			}
			wantName := strings.ReplaceAll(tc.domains[0], "*", "_")
			if res.CertName != wantName {
				t.Errorf("cert name %q, want %q", res.CertName, wantName)
			}
			live := filepath.Join(state, "live", wantName)
			if res.Files.FullChain != filepath.Join(live, "fullchain.pem") {
				t.Errorf("fullchain path %q", res.Files.FullChain)
			}
			verifyChain(ctx, t, e.pebble, filepath.Join(live, "fullchain.pem"), tc.domains)
			for _, f := range []string{"cert.pem", "chain.pem", "privkey.pem"} {
				if _, err := os.Stat(filepath.Join(live, f)); err != nil {
					t.Error(err)
				}
			}
			if fi, err := os.Stat(filepath.Join(live, "privkey.pem")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("privkey.pem mode: %v %v", fi.Mode(), err)
			}
			checkModes(t, state)
			for _, n := range tc.txt {
				e.noTXT(ctx, t, n)
			}
			if ents, _ := os.ReadDir(filepath.Join(state, "journal")); len(ents) > 0 {
				t.Errorf("journal not empty after success: %d entries", len(ents))
			}
		})
	}
}

// A second order with the same state reuses the account and replaces the
// certificate as a whole.
func TestObtainReusesAccount(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}})
	ctx := t.Context()
	home := t.TempDir()
	state := filepath.Join(home, "state")
	var serials []string
	for i := range 2 {
		args := e.obtainArgs(state, "--json", "-d", "www.example.test", "--key-type", "rsa2048")
		if i == 1 { // the second run names the plugin binary explicitly
			// --force: the first certificate is not due, so without it
			// obtain orders nothing.
			args = append(args, "--plugin-path", filepath.Join(e.bin, "zonecert-dns-rfc2136"), "--force")
		}
		r := zonecert(ctx, t, e.bin, e.rfc2136Env(home), args...)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		var res struct{ Serial, Account string }
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatal(err)
		}
		serials = append(serials, res.Serial+" "+res.Account)
	}
	ca, _ := os.ReadDir(filepath.Join(state, "accounts"))
	if len(ca) != 1 {
		t.Fatalf("accounts/ holds %d CAs, want 1", len(ca))
	}
	accts, _ := os.ReadDir(filepath.Join(state, "accounts", ca[0].Name()))
	if len(accts) != 1 {
		t.Errorf("%d accounts stored, want the first one reused", len(accts))
	}
	a0, a1 := strings.Fields(serials[0]), strings.Fields(serials[1])
	if a0[1] != a1[1] || a0[0] == a1[0] {
		t.Errorf("runs = %q, want the same account and two certificates", serials)
	}
	versions, _ := os.ReadDir(filepath.Join(state, "archive", "www.example.test"))
	if len(versions) != 2 {
		t.Errorf("archive holds %d versions, want 2", len(versions))
	}
	verifyChain(ctx, t, e.pebble, filepath.Join(state, "live", "www.example.test", "fullchain.pem"), []string{"www.example.test"})
}

// Bad input gets a clear error, the documented exit code, and writes
// nothing (or, for a provider refusing mid-order, no certificate and no
// journal entry).
func TestObtainBadInput(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}})
	wrongSecret := "c2VjcmV0LXRoYXQtaXMtd3Jvbmctc2VjcmV0LXRoYXQtaXMtd3Jvbmc="
	cases := []struct {
		name      string
		args      []string
		env       func(home string) []string
		code      int
		stderr    string
		writesAcc bool // the CA account may be stored (the failure is later)
		thenRight bool // a second run with the right credentials must then complete
	}{
		{name: "malformed name", args: []string{"-d", "bad..example.test"}, code: exitUsage, stderr: "bad..example.test"},
		{name: "bad character", args: []string{"-d", "b_d!.example.test"}, code: exitUsage, stderr: "b_d!.example.test"},
		{name: "wildcard not leftmost", args: []string{"-d", "www.*.example.test"}, code: exitUsage, stderr: "wildcard"},
		{name: "IPv4 address", args: []string{"-d", "192.0.2.7"}, code: exitUsage, stderr: "IP address"},
		{name: "IPv6 address", args: []string{"-d", "2001:db8::1"}, code: exitUsage, stderr: "IP address"},
		{name: "unknown provider", args: []string{"-d", "www.example.test", "--dns", "nosuch"}, code: exitUsage, stderr: "unknown DNS provider"},
		{name: "plugin path not executable", args: []string{"-d", "www.example.test", "--plugin-path", "/nonexistent/zonecert-dns-rfc2136"}, code: exitUsage, stderr: "not an executable file"},
		{name: "bad key type", args: []string{"-d", "www.example.test", "--key-type", "dsa"}, code: exitUsage, stderr: "key type"},
		{name: "missing credentials", args: []string{"-d", "www.example.test"},
			env: func(home string) []string { return baseEnv(home) }, code: exitUsage, stderr: "RFC2136_NAMESERVER"},
		{name: "wrong credentials", args: []string{"-d", "www.example.test"},
			env: func(home string) []string {
				return baseEnv(home,
					"RFC2136_NAMESERVER="+netip.AddrPortFrom(e.bind.Primary, 53).String(),
					"RFC2136_TSIG_KEY="+e.bind.TSIGKey, "RFC2136_TSIG_SECRET="+wrongSecret,
					"RFC2136_TSIG_ALGORITHM="+e.bind.TSIGAlgorithm)
			}, code: exitDNS, stderr: "publishing", writesAcc: true, thenRight: true},
		{name: "unreachable CA", args: []string{"-d", "www.example.test", "--server", "https://127.0.0.1:1/dir"}, code: exitCA, stderr: "contacting the CA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			home := t.TempDir()
			state := filepath.Join(home, "state")
			env := e.rfc2136Env(home)
			if tc.env != nil {
				env = tc.env(home)
			}
			args := e.obtainArgs(state, tc.args...)
			r := zonecert(ctx, t, e.bin, env, args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty on failure: %q", r.stdout)
			}
			if !tc.writesAcc {
				if _, err := os.Stat(state); !os.IsNotExist(err) {
					t.Errorf("state directory was created: %v", err)
				}
				return
			}
			for _, dir := range []string{"live", "archive"} {
				if _, err := os.Stat(filepath.Join(state, dir)); !os.IsNotExist(err) {
					t.Errorf("%s/ exists after a failed order", dir)
				}
			}
			t.Logf("stderr:\n%s", r.stderr)
			if tc.thenRight {
				// BIND refused the update, so a clean zone proves nothing
				// yet. The journal may keep the record whose cleanup was
				// refused too; the next run, with the right key and the
				// same state, must complete and leave no record and no
				// journal entry behind.
				r := zonecert(ctx, t, e.bin, e.rfc2136Env(home), args...)
				if r.code != exitOK {
					t.Fatalf("second run with the right key: exit %d\nstderr:\n%s", r.code, r.stderr)
				}
				fs, err := storage.NewFS(state)
				if err != nil {
					t.Fatal(err)
				}
				entries, err := fs.List(ctx, "journal")
				if err != nil {
					t.Fatalf("listing the journal: %v", err)
				}
				if len(entries) != 0 {
					t.Errorf("journal entries left after a completed run: %q", entries)
				}
			}
			e.noTXT(ctx, t, "_acme-challenge.www.example.test.")
		})
	}
}

// Ctrl-C while zonecert waits for a lagging secondary: exit 130, and the
// records are removed anyway (cleanup runs on a detached context).
func TestObtainInterrupted(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{
		Zones:     []testenv.Zone{{Name: "example.test"}},
		Secondary: true, SecondaryLag: time.Minute,
	})
	ctx := t.Context()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "zonecert"),
		e.obtainArgs(filepath.Join(home, "state"), "-d", "*.example.test", "-d", "example.test")...)
	cmd.Env = e.rfc2136Env(home)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	sent := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if !sent && strings.Contains(sc.Text(), "stage=propagating") {
			// The primary serves the records now; the secondary will not for a minute.
			if vals, _ := e.bind.TXT(ctx, e.bind.Primary, "_acme-challenge.example.test."); len(vals) != 2 {
				t.Errorf("primary serves %q while waiting, want both values", vals)
			}
			_ = cmd.Process.Signal(os.Interrupt)
			sent = true
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !sent || !errors.As(err, &ee) || ee.ExitCode() != exitCanceled {
		t.Fatalf("signal sent %v, exit %v, want %d\n%s", sent, err, exitCanceled, log.String())
	}
	e.noTXT(ctx, t, "_acme-challenge.example.test.")
	if _, err := os.Stat(filepath.Join(home, "state", "live")); !os.IsNotExist(err) {
		t.Errorf("live/ exists after an interrupted order")
	}
}
