package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
)

func TestParseKeyType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]KeyType{
		"ecdsa-p256": KeyECDSAP256, "EC256": KeyECDSAP256, " p384 ": KeyECDSAP384,
		"rsa2048": KeyRSA2048, "RSA-3072": KeyRSA3072, "rsa4096": KeyRSA4096,
	} {
		if got, err := ParseKeyType(in); err != nil || got != want {
			t.Errorf("ParseKeyType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "rsa1024", "ed25519", "p521"} {
		if _, err := ParseKeyType(in); err == nil {
			t.Errorf("ParseKeyType(%q) succeeded", in)
		}
	}
	for _, kt := range KeyTypes() {
		if got, err := ParseKeyType(string(kt)); err != nil || got != kt {
			t.Errorf("ParseKeyType(%q) = %q, %v", kt, got, err)
		}
	}
}

// TestPrivateKeyPEM round-trips keys through PKCS #8 and reads the SEC 1
// and PKCS #1 forms that older tools write.
func TestPrivateKeyPEM(t *testing.T) {
	t.Parallel()
	for _, kt := range []KeyType{KeyECDSAP256, KeyECDSAP384, KeyRSA2048} {
		key := mustKey(t, kt)
		enc, err := EncodePrivateKeyPEM(key)
		if err != nil {
			t.Fatal(err)
		}
		forms := [][]byte{enc}
		switch k := key.(type) {
		case *ecdsa.PrivateKey:
			der, err := x509.MarshalECPrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			forms = append(forms, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
		case *rsa.PrivateKey:
			forms = append(forms, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
		}
		for _, b := range forms {
			// A certificate block before the key is skipped.
			b = append([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), b...)
			got, err := DecodePrivateKeyPEM(b)
			if err != nil {
				t.Fatalf("%s: DecodePrivateKeyPEM: %v", kt, err)
			}
			if !got.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
				t.Errorf("%s: decoded a different key", kt)
			}
		}
	}
	for _, b := range []string{"", "not PEM", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"} {
		if _, err := DecodePrivateKeyPEM([]byte(b)); err == nil {
			t.Errorf("DecodePrivateKeyPEM(%q) succeeded", b)
		}
	}
}

func TestCreateCSR(t *testing.T) {
	t.Parallel()
	key := mustKey(t, KeyECDSAP256)
	long := strings.Repeat("a", 60) + ".example.com"
	for _, tc := range []struct {
		names []string
		cn    string
	}{
		{[]string{"*.example.com", "example.com"}, "*.example.com"},
		{[]string{long, "example.com"}, ""},
	} {
		der, err := CreateCSR(key, DNSIdentifiers(tc.names...))
		if err != nil {
			t.Fatal(err)
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := csr.CheckSignature(); err != nil {
			t.Errorf("CSR signature: %v", err)
		}
		if !slices.Equal(csr.DNSNames, tc.names) || csr.Subject.CommonName != tc.cn {
			t.Errorf("CSR names %v CN %q, want %v CN %q", csr.DNSNames, csr.Subject.CommonName, tc.names, tc.cn)
		}
	}
	for _, ids := range [][]Identifier{nil, {{Type: "ip", Value: "192.0.2.1"}}, {{Type: IdentifierDNS}}} {
		if _, err := CreateCSR(key, ids); err == nil {
			t.Errorf("CreateCSR(%v) succeeded", ids)
		}
	}
}

func TestDecodeEABKey(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"AQID_w", "AQID_w==", " AQID_w\n"} {
		if b, err := DecodeEABKey(in); err != nil || !slices.Equal(b, []byte{1, 2, 3, 0xff}) {
			t.Errorf("DecodeEABKey(%q) = %x, %v", in, b, err)
		}
	}
	for _, in := range []string{"", "===", "AQID/w", "not base64!"} {
		if _, err := DecodeEABKey(in); err == nil {
			t.Errorf("DecodeEABKey(%q) succeeded", in)
		}
	}
	e := ExternalAccountBinding{KeyID: "kid-1", HMACKey: []byte("secret-mac")}
	if s := e.String() + e.LogValue().String(); strings.Contains(s, "secret") || !strings.Contains(s, "kid-1") {
		t.Errorf("EAB renders as %q", s)
	}
}

func TestDNS01Value(t *testing.T) {
	t.Parallel()
	// Computed independently:
	// printf %s token123.thumbprintABC | openssl dgst -sha256 -binary | base64 | tr +/ -_ | tr -d =
	if got, want := DNS01Value("token123.thumbprintABC"), "qRx-zfG8KjEvBOypNY3z_0LwRXmbKEdpa9OZ731MM8k"; got != want {
		t.Errorf("DNS01Value = %q; want %q", got, want)
	}
}
