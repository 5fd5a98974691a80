package testenv

import (
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"testing"
)

// TestStartPebble checks that the options reach Pebble (EAB, alternate
// roots, the two profiles), that the management helpers work, and that the
// process is gone once its test ends.
func TestStartPebble(t *testing.T) {
	t.Parallel()
	var dirURL string
	var client *http.Client
	t.Run("running", func(t *testing.T) {
		p := StartPebble(t, PebbleOptions{
			// Nothing is validated here, so no DNS server needs to answer.
			DNSServer:      "127.0.0.1:1",
			EAB:            map[string]string{"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"},
			AlternateRoots: 1,
		})
		dirURL, client = p.DirectoryURL, p.HTTPClient
		var dir struct {
			NewNonce string `json:"newNonce"`
			Meta     struct {
				ExternalAccountRequired bool              `json:"externalAccountRequired"`
				Profiles                map[string]string `json:"profiles"`
			} `json:"meta"`
		}
		resp, err := p.HTTPClient.Get(p.DirectoryURL)
		if err != nil {
			t.Fatalf("directory: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(b, &dir); err != nil {
			t.Fatalf("directory %s: %v", b, err)
		}
		if dir.NewNonce == "" || !dir.Meta.ExternalAccountRequired {
			t.Errorf("directory = %s, want newNonce and externalAccountRequired", b)
		}
		for _, name := range []string{PebbleProfileDefault, PebbleProfileShortlived} {
			if dir.Meta.Profiles[name] == "" {
				t.Errorf("profile %q missing from %v", name, dir.Meta.Profiles)
			}
		}
		roots, err := p.Roots(t.Context())
		if err != nil {
			t.Fatalf("Roots: %v", err)
		}
		// Subjects is deprecated for system pools only; this one is ours.
		if n := len(roots.Subjects()); n != 2 {
			t.Errorf("Roots holds %d certificates, want 2 (root 0 and one alternate)", n)
		}
		if _, err := p.Intermediates(t.Context()); err != nil {
			t.Errorf("Intermediates: %v", err)
		}
		if _, err := p.CertStatus(t.Context(), big.NewInt(12345)); err == nil {
			t.Error("CertStatus of a serial Pebble never issued succeeded")
		}
	})
	if dirURL == "" {
		t.Fatal("pebble did not start")
	}
	if resp, err := client.Get(dirURL); err == nil {
		resp.Body.Close()
		t.Errorf("pebble still answers at %s after its test ended", dirURL)
	}
}
