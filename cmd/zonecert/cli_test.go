package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

func testEnv(vars map[string]string) (env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return env{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		lookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		getuid:    func() int { return 1000 },
	}, &out, &errb
}

// Input errors are found before anything runs: exit 2, nothing written.
func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	base := []string{"obtain", "--path", state, "--dns", "rfc2136", "--dns-resolver", "127.0.0.1"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", append(base, "--nope"), "unknown flag"},
		{"no domain", base, "no domain"},
		{"no provider", []string{"obtain", "-d", "example.com", "--path", state}, "no DNS provider"},
		{"bad provider name", []string{"obtain", "-d", "example.com", "--dns", "../x"}, "bad provider name"},
		{"double wildcard", append(base, "-d", "*.*.example.com"), "wildcard"},
		{"IP", append(base, "-d", "10.0.0.1"), "IP address"},
		{"bad server", append(base, "-d", "example.com", "--server", "ftp://x"), "directory URL"},
		{"bad wait", append(base, "-d", "example.com", "--wait", "fixed:-1s"), "wait"},
		{"bad key", append(base, "-d", "example.com", "--key-type", "ed25519"), "key type"},
		{"bad cert name", append(base, "-d", "example.com", "--cert-name", "../etc"), "certificate name"},
		{"bad resolver", append(base, "-d", "example.com", "--dns-resolver", "dns.google"), "resolver \"dns.google\""},
		{"eab without kid", append(base, "-d", "example.com", "--eab-hmac", "abc"), "--eab-kid"},
		{"eab kid without key", append(base, "-d", "example.com", "--eab-kid", "k"), "ZONECERT_EAB_HMAC"},
		{"bad pin", append(base, "-d", "example.com", "--plugin-sha256", "rfc2136=zz"), "--plugin-sha256"},
		{"bad alias", append(base, "-d", "example.com", "--challenge-alias", "example.com"), "--challenge-alias"},
		{"bad ca bundle", append(base, "-d", "example.com", "--ca-bundle", filepath.Join(dir, "none.pem")), "CA bundle"},
		{"missing dns config", append(base, "-d", "example.com", "--dns-config", filepath.Join(dir, "none")), "--dns-config"},
		{"unknown challenge", append(base, "-d", "example.com", "--challenge", "http-01"), "unknown challenge \"http-01\""},
		{"dns-01 without provider", []string{"obtain", "-d", "example.com", "--path", state, "--challenge", "dns-01"}, "only --challenge dns-persist-01"},
		{"persist bad until", []string{"persist", "setup", "-d", "example.com", "--path", state, "--dns-resolver", "127.0.0.1", "--until", "soon"}, "--until"},
		{"persist until past", []string{"persist", "setup", "-d", "example.com", "--path", state, "--dns-resolver", "127.0.0.1", "--until", "2001-01-01"}, "in the past"},
		{"persist remove without provider", []string{"persist", "remove", "-d", "example.com", "--path", state, "--dns-resolver", "127.0.0.1"}, "needs a DNS provider"},
		{"persist no domain", []string{"persist", "show", "--path", state, "--dns-resolver", "127.0.0.1"}, "no domain"},
	}
	// The group returns only once its parallel subtests have finished, so
	// the check below sees what all of them did.
	t.Run("cases", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				e, out, _ := testEnv(nil)
				err := run(context.Background(), tc.args, e)
				if code := exitCode(err); code != exitUsage {
					t.Fatalf("exit %d (%v), want %d", code, err, exitUsage)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q lacks %q", err, tc.want)
				}
				if out.Len() != 0 {
					t.Errorf("stdout: %q", out)
				}
			})
		}
	})
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state directory created by a usage error: %v", err)
	}
}

func TestPlanObtainDefaults(t *testing.T) {
	t.Parallel()
	e, _, _ := testEnv(map[string]string{"HOME": "/home/u", "ZONECERT_EAB_HMAC": "c2VjcmV0"})
	f := &obtainFlags{}
	fs := pflag.NewFlagSet("obtain", pflag.ContinueOnError)
	bindObtainFlags(fs, f)
	if err := fs.Parse([]string{"-d", "*.Example.COM", "-d", "example.com.", "-d", "example.com",
		"--dns", "rfc2136", "--dns-resolver", "192.0.2.53", "--eab-kid", "kid-1",
		"--challenge-alias", "*.example.com=_acme-challenge.example.net", "--wait", "fixed:5s"}); err != nil {
		t.Fatal(err)
	}
	plan, err := planObtain(e, f)
	if err != nil {
		t.Fatal(err)
	}
	r := plan.req
	if got := strings.Join(r.Domains, ","); got != "*.example.com,example.com" {
		t.Errorf("domains %s", got)
	}
	if r.CertName != "_.example.com" || r.KeyType != acme.KeyECDSAP256 {
		t.Errorf("cert name %q key %q", r.CertName, r.KeyType)
	}
	if u, _ := knownServer("letsencrypt"); r.DirectoryURL != u {
		t.Errorf("server %s", r.DirectoryURL)
	}
	if r.EAB == nil || r.EAB.KID != "kid-1" || string(r.EAB.HMAC) != "secret" {
		t.Errorf("EAB %+v", r.EAB)
	}
	if r.Resolvers[0] != "192.0.2.53:53" || r.NameserverPort != 53 {
		t.Errorf("resolvers %v port %d", r.Resolvers, r.NameserverPort)
	}
	if r.ChallengeAliases["example.com"] != "_acme-challenge.example.net." {
		t.Errorf("aliases %v", r.ChallengeAliases)
	}
	if r.Wait != dns01.WaitFixed(5*time.Second) {
		t.Errorf("wait %+v", r.Wait)
	}
	if plan.path != "/home/u/.local/share/zonecert" {
		t.Errorf("path %s", plan.path)
	}
}

func TestJSONError(t *testing.T) {
	t.Parallel()
	e, out, _ := testEnv(nil)
	err := run(context.Background(), []string{"obtain", "--json", "--dns", "rfc2136", "-d", "a..b"}, e)
	var got struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
	}
	if jerr := json.Unmarshal(out.Bytes(), &got); jerr != nil || got.ExitCode != exitUsage || got.Error != err.Error() {
		t.Errorf("stdout %q (%v), want the error as JSON with exit_code 2", out, jerr)
	}
}

func TestDefaultStatePath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vars map[string]string
		uid  int
		want string
	}{
		{map[string]string{"HOME": "/h"}, 0, "/var/lib/zonecert"},
		{map[string]string{"HOME": "/h"}, 1000, "/h/.local/share/zonecert"},
		{map[string]string{"HOME": "/h", "XDG_DATA_HOME": "/x"}, 1000, "/x/zonecert"},
		{map[string]string{"HOME": "/h", "XDG_DATA_HOME": "rel"}, 1000, "/h/.local/share/zonecert"},
		{map[string]string{"ZONECERT_PATH": "/p"}, 0, "/p"},
	} {
		e, _, _ := testEnv(tc.vars)
		e.getuid = func() int { return tc.uid }
		if got, err := defaultStatePath(e); err != nil || got != tc.want {
			t.Errorf("%v uid %d: %q, %v; want %q", tc.vars, tc.uid, got, err, tc.want)
		}
	}
}

func TestParseSettings(t *testing.T) {
	t.Parallel()
	settings, env, err := parseSettings("f", []byte(`
# comment
RFC2136_NAMESERVER = 192.0.2.1:53
export RFC2136_TSIG_SECRET="c2VjcmV0"
tsig_key='zonecert.'
`))
	if err != nil {
		t.Fatal(err)
	}
	if env["RFC2136_NAMESERVER"] != "192.0.2.1:53" || env["RFC2136_TSIG_SECRET"] != "c2VjcmV0" {
		t.Errorf("env %v", env)
	}
	if settings["tsig_key"] != "zonecert." {
		t.Errorf("settings %v", settings)
	}
	for _, bad := range []string{"novalue", "Mixed_Case=1", "1ABC=2"} {
		if _, _, err := parseSettings("f", []byte(bad)); err == nil || !strings.Contains(err.Error(), "f:1") {
			t.Errorf("%q: error %v, want one naming f:1", bad, err)
		}
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "s.env")
	if err := os.WriteFile(p, []byte("A=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readSettingsFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable settings file: %v", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, env, err := readSettingsFile(p); err != nil || env["A"] != "1" {
		t.Errorf("readSettingsFile = %v, %v", env, err)
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("x"), exitInternal},
		{usageError{errors.New("x")}, exitUsage},
		{&core.Error{Kind: core.KindInput, Err: errors.New("x")}, exitUsage},
		{&core.Error{Kind: core.KindCA, Err: errors.New("x")}, exitCA},
		{errors.Join(errors.New("ctx"), &core.Error{Kind: core.KindDNS, Err: errors.New("x")}), exitDNS},
		{&core.Error{Kind: core.KindStorage, Err: errors.New("x")}, exitInternal},
		{errInterrupted, exitCanceled},
		// A setting the plugin rejects, missing or invalid, is the user's to fix.
		{providerError("rfc2136", &host.ConfigError{Plugin: "rfc2136",
			Diagnostics: []plugin.Diagnostic{{Setting: "nameserver", Message: "RFC2136_NAMESERVER is required"}}}), exitUsage},
		{providerError("rfc2136", errors.New("plugin crashed")), exitDNS},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestCertificatesEmpty(t *testing.T) {
	t.Parallel()
	e, out, _ := testEnv(nil)
	dir := t.TempDir()
	if err := run(context.Background(), []string{"certificates", "--path", dir}, e); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "no certificates") {
		t.Errorf("output %q", out)
	}
	if err := run(context.Background(), []string{"certificates", "--path", dir, "missing"}, e); err == nil {
		t.Error("a missing certificate is not an error")
	}
}
