package core

import (
	"crypto"
	"fmt"

	"github.com/zonecert/zonecert/core/acme"
)

// acmeKeyType maps the CLI's certbot-style key names onto core/acme's.
func acmeKeyType(kt KeyType) (acme.KeyType, error) {
	switch kt {
	case KeyEC256, "":
		return acme.KeyECDSAP256, nil
	case KeyEC384:
		return acme.KeyECDSAP384, nil
	case KeyRSA2048:
		return acme.KeyRSA2048, nil
	case KeyRSA3072:
		return acme.KeyRSA3072, nil
	case KeyRSA4096:
		return acme.KeyRSA4096, nil
	}
	return "", fmt.Errorf("unknown key type %q", kt)
}

// generateKey makes a new private key of type kt.
func generateKey(kt KeyType) (crypto.Signer, error) {
	akt, err := acmeKeyType(kt)
	if err != nil {
		return nil, err
	}
	return acme.GenerateKey(akt)
}

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
