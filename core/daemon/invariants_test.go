package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/storage"
)

// nextCheck adds the configured jitter: the times drawn differ, and stay
// within [t, t+jitter).
func TestNextCheckJitter(t *testing.T) {
	d := &Daemon{}
	g := &generation{cfg: &config.Config{Daemon: config.Daemon{CheckInterval: time.Hour, RetryMin: time.Minute, Jitter: 5 * time.Minute}}}
	now := time.Now()
	want := now.Add(time.Hour)
	seen := map[time.Time]bool{}
	for range 20 {
		got := d.nextCheck(g, Due{At: now.Add(100 * 24 * time.Hour)}, now)
		if got.Before(want) || !got.Before(want.Add(5*time.Minute)) {
			t.Fatalf("next check %s, want within [%s, +5m)", got, want)
		}
		seen[got] = true
	}
	if len(seen) < 2 {
		t.Errorf("20 next checks drawn at one time %v: no jitter", seen)
	}
}

// A certificate zonecert has no plan for (put there by hand) is due when a
// third of its lifetime is left.
func TestDueByLifetimeWithoutPlan(t *testing.T) {
	store, err := storage.NewFS(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	notBefore := time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Second)
	notAfter := notBefore.Add(90 * 24 * time.Hour)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "hand.example"},
		DNSNames: []string{"hand.example"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutSet(t.Context(), storage.LiveKey("hand"), map[string]storage.File{
		storage.CertFile: {Data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
	}); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{store: store, reads: newSnapStore(store, nil, nil)}
	due, err := d.due(t.Context(), nil, config.Certificate{Name: "hand", Domains: []string{"hand.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := notAfter.Add(-30 * 24 * time.Hour); !due.At.Equal(want) || due.Reason != string(core.ReasonExpiring) {
		t.Errorf("due %+v, want at %s (a third of the lifetime left), reason expiring", due, want)
	}
}
