package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseRefusesWhatRunRefuses: a document the daemon cannot run is
// refused at load (zonecert config check and zonecert run share it), each
// error naming its key; and secrets are private wherever they are kept.
func TestParseRefusesWhatRunRefuses(t *testing.T) {
	env := map[string]string{"RFC2136_TSIG_SECRET": "x"}
	dir := t.TempDir()
	readable := filepath.Join(dir, "readable-secret")
	if err := os.WriteFile(readable, []byte("c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(readable, 0o640); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "bundle.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) string {
		if !strings.Contains(goodDoc, old) {
			t.Fatalf("goodDoc lacks %q", old)
		}
		return strings.Replace(goodDoc, old, new, 1)
	}
	tests := []struct {
		name string
		doc  string
		mode fs.FileMode
		line int
		msg  string
	}{
		{"http server", replace(`"https://127.0.0.1:14000/dir"`, `"http://127.0.0.1:14000/dir"`), 0o600, 3, "acme.server"},
		{"missing ca bundle", replace(`agree_tos = true`, "agree_tos = true\nca_bundle = \"/nonexistent/bundle.pem\""), 0o600, 6, "acme.ca_bundle"},
		{"relative ca bundle", replace(`agree_tos = true`, "agree_tos = true\nca_bundle = \"bundle.pem\""), 0o600, 6, "acme.ca_bundle"},
		{"ca bundle without a certificate", replace(`agree_tos = true`, "agree_tos = true\nca_bundle = \""+notPEM+"\""), 0o600, 6, "acme.ca_bundle"},
		{"no agree_tos", replace("agree_tos = true\n", ""), 0o600, 2, "acme.agree_tos"},
		{"agree_tos false", replace("agree_tos = true", "agree_tos = false"), 0o600, 2, "acme.agree_tos"},
		{"literal secret, group-readable file", replace(`"${RFC2136_TSIG_SECRET}"`, `"bGl0ZXJhbA=="`), 0o640, 13, "literal secret in a file readable by group or others"},
		{"literal eab_hmac is a secret", replace(`agree_tos = true`, "agree_tos = true\neab_kid = \"kid\"\neab_hmac = \"c2VjcmV0\""), 0o640, 7, "literal secret in a file readable by group or others"},
		{"file: secret readable by group", replace("file:SECRETFILE", "file:"+readable), 0o600, 16, "group or others can read it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.doc, tt.mode, env)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want config.Errors", err)
			}
			for _, e := range errs {
				if e.Line == tt.line && strings.Contains(e.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("no error at line %d containing %q; got:\n%v", tt.line, tt.msg, err)
		})
	}
}

// A file: reference to a setting that is not secret may be readable: the
// rule is about secrets, not files.
func TestFileReferenceToNonSecretMayBeReadable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ns")
	if err := os.WriteFile(p, []byte("ns2.example.net\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(goodDoc, `nameserver = "ns2.example.net"`, `nameserver = "file:`+p+`"`, 1)
	cfg, err := parse(t, doc, 0o600, map[string]string{"RFC2136_TSIG_SECRET": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Providers["other"].Settings["nameserver"]; got != "ns2.example.net" {
		t.Errorf("nameserver = %q", got)
	}
}
