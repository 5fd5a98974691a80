package acme

import (
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// ExternalAccountBinding ties a new account to an account the user holds
// with the CA outside ACME (RFC 8555 §7.3.4). The CA hands out a key
// identifier and an HMAC key.
type ExternalAccountBinding struct {
	// KeyID is the CA's key identifier, the "kid" of the inner JWS.
	KeyID string
	// HMACKey is the raw MAC key (decode the CA's base64url text with
	// [DecodeEABKey]). It is a secret: never log it.
	HMACKey []byte
}

// LogValue keeps the HMAC key out of logs.
func (e ExternalAccountBinding) LogValue() slog.Value { return slog.StringValue(e.String()) }

// String names the key ID only, so a stray %v does not print the HMAC key.
func (e ExternalAccountBinding) String() string { return "eab(" + e.KeyID + ")" }

// DecodeEABKey decodes the base64url HMAC key a CA gives out for EAB,
// accepting padded and unpadded text.
func DecodeEABKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("acme: EAB HMAC key is not base64url: %w", err)
	}
	if len(b) == 0 {
		return nil, errors.New("acme: EAB HMAC key is empty")
	}
	return b, nil
}

// sign builds the externalAccountBinding field (§7.3.4): a JWS with
// alg HS256, "kid" the key identifier and "url" the newAccount URL (no
// nonce), whose payload is the account's public JWK.
func (e *ExternalAccountBinding) sign(accountKey crypto.Signer, newAccountURL string) ([]byte, error) {
	if e.KeyID == "" || len(e.HMACKey) == 0 {
		return nil, errors.New("acme: external account binding needs a key ID and an HMAC key")
	}
	jwk, err := publicJWK(accountKey)
	if err != nil {
		return nil, err
	}
	payload, err := jwk.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("acme: encoding account JWK: %w", err)
	}
	opts := (&jose.SignerOptions{}).WithHeader("kid", e.KeyID).WithHeader("url", newAccountURL)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: e.HMACKey}, opts)
	if err != nil {
		return nil, fmt.Errorf("acme: creating EAB signer: %w", err)
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("acme: signing EAB: %w", err)
	}
	return []byte(sig.FullSerialize()), nil
}
