package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/internal/testenv"
)

// seedEtcdLineage writes an account and a lineage (self-signed, enough for
// zonecert certificates) into s.
func seedEtcdLineage(t *testing.T, s storage.Storage, name string) {
	t.Helper()
	ctx := t.Context()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	key := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	if err := s.PutSet(ctx, storage.LiveKey(name), map[string]storage.File{
		storage.CertFile: {Data: cert}, storage.ChainFile: {Data: cert}, storage.FullChainFile: {Data: append(cert, cert...)},
		storage.PrivKeyFile: {Data: key, Private: true},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, storage.RenewalKey(name), []byte(`{"name":"`+name+`"}`), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "accounts/ca.test/1/account.json", []byte(`{"url":"https://ca.test/acct/1"}`), false); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "accounts/ca.test/1/key.pem", key, true); err != nil {
		t.Fatal(err)
	}
}

// storage copy moves accounts, plans and live sets to etcd (private keys
// sealed) and back, byte for byte, with no order.
func TestStorageCopyRoundTrip(t *testing.T) {
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	src, err := storage.NewFS(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	seedEtcdLineage(t, src, "a.test")
	seedEtcdLineage(t, src, "b.test")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyFile := filepath.Join(dir, "storage.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"ZONECERT_STORAGE_KEY_FILE": keyFile}
	url := "etcd://" + strings.TrimPrefix(e.Endpoint(0), "http://") + "/fleet"

	// Without the key nothing private may reach etcd.
	en, _, _ := testEnv(nil)
	if err := run(ctx, []string{"storage", "copy", "--from", src.Root, "--to", url}, en); err == nil || !strings.Contains(err.Error(), "ZONECERT_STORAGE_KEY") {
		t.Fatalf("copy without a key = %v, want an error naming ZONECERT_STORAGE_KEY", err)
	}
	en, out, _ := testEnv(vars)
	if err := run(ctx, []string{"storage", "copy", "--from", src.Root, "--to", url}, en); err != nil {
		t.Fatalf("copy to etcd: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "2 lineage(s) copied") {
		t.Errorf("copy said %q", out)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	raw, err := cli.Get(ctx, "/fleet/", clientv3.WithPrefix())
	if err != nil || len(raw.Kvs) == 0 {
		t.Fatalf("raw etcd: %d keys, %v", len(raw.Kvs), err)
	}
	for _, kv := range raw.Kvs {
		if bytes.Contains(kv.Value, []byte("PRIVATE KEY")) {
			t.Errorf("%s holds a private key in the clear", kv.Key)
		}
	}

	en, out, _ = testEnv(vars)
	if err := run(ctx, []string{"certificates", "--storage", url}, en); err != nil {
		t.Fatalf("certificates from etcd: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "Certificate a.test") || !strings.Contains(out.String(), "etcd://") {
		t.Errorf("certificates from etcd printed %q", out)
	}

	en, out, _ = testEnv(vars)
	if err := run(ctx, []string{"storage", "copy", "--from", url, "--to", src.Root}, en); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "skipped a.test") {
		t.Errorf("copy onto lineages the destination has: %q, want them skipped", out)
	}
	back := filepath.Join(dir, "b")
	en, out, _ = testEnv(vars)
	if err := run(ctx, []string{"storage", "copy", "--from", url, "--to", back}, en); err != nil {
		t.Fatalf("copy back: %v\n%s", err, out)
	}
	for _, k := range []string{"live/a.test/cert.pem", "live/a.test/privkey.pem", "live/b.test/fullchain.pem", "renewal/a.test.json",
		"accounts/ca.test/1/account.json", "accounts/ca.test/1/key.pem"} {
		want, err1 := os.ReadFile(filepath.Join(src.Root, k))
		got, err2 := os.ReadFile(filepath.Join(back, k))
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after the round trip: %v %v, equal %v", k, err1, err2, bytes.Equal(got, want))
		}
	}
	if fi, err := os.Stat(filepath.Join(back, "live/a.test/privkey.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("privkey.pem copied back: %v, %v; want 0600", fi, err)
	}
}

// --storage with TLS files in the URL: a client certificate from the
// cluster's CA connects; one from another CA, or none, is refused.
func TestStorageEtcdTLS(t *testing.T) {
	e := testenv.StartEtcdWith(t, testenv.EtcdConfig{TLS: true})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	host := strings.TrimPrefix(e.Endpoint(0), "https://")
	tl := e.TLS
	for _, c := range []struct {
		name, query string
		ok          bool
	}{
		{"client certificate", "?ca=" + tl.CAFile + "&cert=" + tl.CertFile + "&key=" + tl.KeyFile, true},
		{"another CA's client certificate", "?ca=" + tl.CAFile + "&cert=" + tl.OtherCertFile + "&key=" + tl.OtherKeyFile, false},
		{"no client certificate", "?ca=" + tl.CAFile, false},
	} {
		en, out, _ := testEnv(nil)
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		err := run(cctx, []string{"certificates", "--storage", "etcd://" + host + "/tls" + c.query}, en)
		ccancel()
		if c.ok && (err != nil || !strings.Contains(out.String(), "no certificates under etcd://")) {
			t.Errorf("%s: %v, %q", c.name, err, out)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "did not answer")) {
			t.Errorf("%s: %v, want a refusal within the probe's timeout", c.name, err)
		}
	}
	if _, err := parseStorageURL("etcd://" + host + "/p?cert=x"); err != nil {
		t.Fatal(err)
	}
	en, _, _ := testEnv(nil)
	if err := run(ctx, []string{"certificates", "--storage", "etcd://" + host + "/p?ca=" + tl.CAFile + "&cert=" + tl.CertFile}, en); err == nil || !strings.Contains(err.Error(), "both cert and key") {
		t.Errorf("cert without key: %v", err)
	}
	if err := run(ctx, []string{"certificates", "--storage", "etcd://u:p@" + host + "/p"}, en); err == nil || !strings.Contains(err.Error(), "credentials do not belong") {
		t.Errorf("credentials in the URL: %v", err)
	}
}
