package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCertificatesJSONHasNoNote: a certificate with an empty subject (the
// names are in the SAN) has "subject": "" in --json; the explanation is
// for humans only.
func TestCertificatesJSONHasNoNote(t *testing.T) {
	state := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), DNSNames: []string{"san.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(state, "live", "san.example.test")
	if err := os.MkdirAll(live, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(live, "fullchain.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	e, out, _ := testEnv(nil)
	if err := run(t.Context(), []string{"certificates", "--json", "--path", state}, e); err != nil {
		t.Fatal(err)
	}
	var infos []certInfo
	if err := json.Unmarshal(out.Bytes(), &infos); err != nil || len(infos) != 1 || infos[0].Subject != "" {
		t.Fatalf("--json: %v %s", err, out)
	}
	e, out, _ = testEnv(nil)
	if err := run(t.Context(), []string{"certificates", "--path", state}, e); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "the names are in the SAN extension") {
		t.Errorf("the human output lacks the note:\n%s", out)
	}
}
