package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// KeyType names a key algorithm and size for account and certificate keys.
type KeyType string

// Supported key types. ES256/ES384/RS256 follow for account keys (§6.2).
const (
	KeyECDSAP256 KeyType = "ecdsa-p256"
	KeyECDSAP384 KeyType = "ecdsa-p384"
	KeyRSA2048   KeyType = "rsa2048"
	KeyRSA3072   KeyType = "rsa3072"
	KeyRSA4096   KeyType = "rsa4096"
)

// KeyTypes lists every supported key type.
func KeyTypes() []KeyType {
	return []KeyType{KeyECDSAP256, KeyECDSAP384, KeyRSA2048, KeyRSA3072, KeyRSA4096}
}

// ParseKeyType accepts the KeyType names and common aliases (ec256,
// p256, rsa-2048 ...), case-insensitively.
func ParseKeyType(s string) (KeyType, error) {
	switch strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "") {
	case "ecdsap256", "ec256", "p256", "ecdsa256":
		return KeyECDSAP256, nil
	case "ecdsap384", "ec384", "p384", "ecdsa384":
		return KeyECDSAP384, nil
	case "rsa2048":
		return KeyRSA2048, nil
	case "rsa3072":
		return KeyRSA3072, nil
	case "rsa4096":
		return KeyRSA4096, nil
	}
	return "", fmt.Errorf("unknown key type %q: want ec256, ec384, rsa2048, rsa3072 or rsa4096", s)
}

// GenerateKey makes a new private key of the given type.
func GenerateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case KeyECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case KeyRSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	case KeyRSA4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("acme: unknown key type %q", kt)
}

// EncodePrivateKeyPEM encodes a key as a PKCS #8 "PRIVATE KEY" PEM block.
// Store the result with mode 0600.
func EncodePrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("acme: encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// DecodePrivateKeyPEM decodes the first private key PEM block: PKCS #8,
// SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY").
func DecodePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("acme: decoding private key: no private key PEM block")
		}
		var key any
		var err error
		switch blk.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("acme: decoding private key: %w", err)
		}
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("acme: decoding private key: %T is not a signing key", key)
		}
		return s, nil
	}
}

// CreateCSR builds a DER certificate signing request for the finalize call
// (RFC 8555 §7.4): every identifier becomes a dNSName SAN (wildcards
// included, as "*.example.com"), and the first is also the subject common
// name when it fits the 64-byte limit of RFC 5280.
func CreateCSR(key crypto.Signer, ids []Identifier) ([]byte, error) {
	if len(ids) == 0 {
		return nil, errors.New("acme: creating CSR: no identifiers")
	}
	tmpl := &x509.CertificateRequest{}
	for _, id := range ids {
		if id.Type != IdentifierDNS {
			return nil, fmt.Errorf("acme: creating CSR: unsupported identifier type %q", id.Type)
		}
		if id.Value == "" {
			return nil, errors.New("acme: creating CSR: empty name")
		}
		tmpl.DNSNames = append(tmpl.DNSNames, id.Value)
	}
	if len(ids[0].Value) <= 64 {
		tmpl.Subject = pkix.Name{CommonName: ids[0].Value}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("acme: creating CSR: %w", err)
	}
	return der, nil
}
