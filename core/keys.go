package core

import (
	"crypto"

	"github.com/zonecert/zonecert/core/acme"
)

// encodeKey is the PKCS #8 PEM form of key (what certbot's privkey.pem and
// most servers read).
func encodeKey(key crypto.Signer) ([]byte, error) { return acme.EncodePrivateKeyPEM(key) }

// decodeKey parses a PEM private key (PKCS #8, or SEC 1 / PKCS #1).
func decodeKey(b []byte) (crypto.Signer, error) { return acme.DecodePrivateKeyPEM(b) }

// createCSR is the DER CSR for domains (RFC 8555 §7.4).
func createCSR(key crypto.Signer, domains []string) ([]byte, error) {
	ids := make([]acme.Identifier, len(domains))
	for i, d := range domains {
		ids[i] = acme.Identifier{Type: acme.IdentifierDNS, Value: d}
	}
	return acme.CreateCSR(key, ids)
}
