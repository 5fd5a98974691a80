package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigCheck runs `zonecert config check` with the real plugins'
// describe: a good file passes; each bad one exits 2 naming the line.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	bin := binaries(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "open-token"), []byte("tok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := `state = "/var/lib/zonecert"
[acme]
server = "letsencrypt-staging"
agree_tos = true
[dns]
resolvers = ["192.0.2.53"]
[providers.bind]
plugin = "rfc2136"
settings = { nameserver = "192.0.2.1:53", tsig_key = "k.", tsig_secret = "${TSIG}" }
[providers.cf]
plugin = "cloudflare"
settings = { dns_api_token = "file:TOKEN" }
[[certificate]]
name = "web"
domains = ["*.example.com", "example.com"]
provider = "bind"
[[certificate]]
name = "mixed"
domains = ["www.example.com", "shop.example.net"]
providers = { "example.com" = "bind", "example.net" = "cf" }
`
	good = strings.ReplaceAll(good, "TOKEN", filepath.Join(dir, "token"))
	edit := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("no %q in the config", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	cases := []struct {
		name string
		doc  string
		mode os.FileMode
		want string // "" = OK
	}{
		{"good", good, 0o644, ""},
		{"unknown provider", edit(`provider = "bind"`, `provider = "bnd"`), 0o600, `:16: certificate "web": unknown provider "bnd"`},
		{"domain no provider covers", edit(`"shop.example.net"]`, `"shop.example.net", "x.example.org"]`), 0o600, `:19: certificate "mixed": no provider covers x.example.org`},
		{"duplicate name", edit(`name = "mixed"`, `name = "web"`), 0o600, `:18: certificate "web": duplicate name (first at line 14)`},
		{"unknown key", edit(`agree_tos = true`, "agree_tos = true\nagree = true"), 0o600, `:5: unknown key "acme.agree"`},
		{"secret in a world-readable file", edit(`"${TSIG}"`, `"c2VjcmV0"`), 0o644, `:9: a literal secret in a file readable by group or others`},
		{"unknown plugin setting", edit(`tsig_key = "k."`, `tsig_keyname = "k."`), 0o600, `:9: providers.bind: plugin rfc2136 has no setting "tsig_keyname"`},
		// What zonecert run would refuse, refused by the check, naming the key.
		{"http server", edit(`"letsencrypt-staging"`, `"http://127.0.0.1:14000/dir"`), 0o600, `:3: acme.server: "http://127.0.0.1:14000/dir"`},
		{"missing ca bundle", edit(`agree_tos = true`, "agree_tos = true\nca_bundle = \"/nonexistent/ca.pem\""), 0o600, `:5: acme.ca_bundle: open /nonexistent/ca.pem`},
		{"no agree_tos", edit("agree_tos = true\n", ""), 0o600, `:2: acme.agree_tos: set agree_tos = true`},
		{"file: secret readable by others", edit(`file:`+filepath.Join(dir, "token"), `file:`+filepath.Join(dir, "open-token")), 0o600, `:12: providers.cf.settings.dns_api_token: ` + filepath.Join(dir, "open-token") + ` holds a secret and group or others can read it`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "zonecert.toml")
			if err := os.WriteFile(path, []byte(tc.doc), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // the umask may have narrowed it
				t.Fatal(err)
			}
			r := zonecert(t.Context(), t, bin, baseEnv(t.TempDir(), "TSIG=c2VjcmV0"), "config", "check", "--plugin-dir", bin, path)
			if tc.want == "" {
				if r.code != 0 || !strings.Contains(r.stdout, "OK (2 certificates, 2 provider instances)") {
					t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
				}
				return
			}
			if r.code != exitUsage || !strings.Contains(r.stderr, path+tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %s%s", r.code, r.stderr, path, tc.want)
			}
		})
	}
}

// config check without a file says which file it wants, as a usage error.
func TestConfigCheckWithoutFile(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binaries(t), "zonecert"), "config", "check").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("config check with no file: %v, want exit 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "which file?") || !strings.Contains(string(out), "zonecert run --config FILE") {
		t.Errorf("config check with no file says %q; want it to name the file it wants", out)
	}
}
