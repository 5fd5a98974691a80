package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// --eab-hmac on the command line works, with a warning that names the
// variable to use; the key from the environment gets no warning.
func TestEABHMACFlagWarns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		vars map[string]string
		warn bool
	}{
		{[]string{"--eab-kid", "k", "--eab-hmac", "c2VjcmV0"}, nil, true},
		{[]string{"--eab-kid", "k"}, map[string]string{"ZONECERT_EAB_HMAC": "c2VjcmV0"}, false},
	} {
		e, _, errb := testEnv(tc.vars)
		f := &obtainFlags{}
		fs := pflag.NewFlagSet("obtain", pflag.ContinueOnError)
		bindObtainFlags(fs, f)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		eab, err := eabFrom(e, f)
		if err != nil || eab == nil || string(eab.HMAC) != "secret" {
			t.Fatalf("%v: EAB %+v, %v", tc.args, eab, err)
		}
		got := errb.String()
		warned := strings.Contains(got, "process list") && strings.Contains(got, "ZONECERT_EAB_HMAC")
		if warned != tc.warn {
			t.Errorf("%v: stderr %q, want a warning: %v", tc.args, got, tc.warn)
		}
		if strings.Contains(got, "c2VjcmV0") {
			t.Errorf("the warning repeats the key: %q", got)
		}
	}
}

// A --dns-config file that group or others can read is refused, as the
// daemon's file: secrets are.
func TestDNSConfigMustBePrivate(t *testing.T) {
	t.Parallel()
	for _, m := range []os.FileMode{0o640, 0o604} {
		p := filepath.Join(t.TempDir(), "dns.conf")
		if err := os.WriteFile(p, []byte("RFC2136_TSIG_SECRET=c2VjcmV0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readSettingsFile(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("mode %04o: %v, want refused naming %s", m, err, p)
		}
	}
}

// selfSignedPEM is a CA certificate that trusts nothing zonecert talks to.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not your CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
