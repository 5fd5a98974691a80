package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// signingKey is the key of one JWS (RFC 8555 §6.2) and how it is named: by
// "kid" (the account URL) when kid is set, else by an embedded "jwk".
type signingKey struct {
	key crypto.Signer
	kid string
}

// signatureAlgorithm maps a key to its JWS algorithm (RFC 7518 §3.1): ES256
// for P-256, ES384 for P-384, RS256 for RSA.
func signatureAlgorithm(k crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch pub := k.Public().(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		}
		return "", fmt.Errorf("acme: unsupported ECDSA curve %s", pub.Curve.Params().Name)
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return "", fmt.Errorf("acme: RSA key of %d bits is too short", pub.N.BitLen())
		}
		return jose.RS256, nil
	case nil:
		return "", fmt.Errorf("acme: no key")
	default:
		return "", fmt.Errorf("acme: unsupported key type %T", pub)
	}
}

// joseKey returns the concrete private key go-jose signs with. Keys held
// elsewhere (an HSM behind crypto.Signer) are not supported yet.
func joseKey(k crypto.Signer) (any, error) {
	switch k.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("acme: unsupported key implementation %T", k)
}

// signJWS signs payload for url with the flattened JSON serialization. A nil
// payload makes a POST-as-GET (§6.3): the payload is the empty string. An
// empty nonce omits the header, as for the inner JWS of a key change.
func signJWS(k signingKey, url, nonce string, payload []byte) ([]byte, error) {
	if k.key == nil {
		return nil, fmt.Errorf("acme: signing request to %s: no key", url)
	}
	alg, err := signatureAlgorithm(k.key)
	if err != nil {
		return nil, err
	}
	opts := &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"url": url}}
	if nonce != "" {
		opts.ExtraHeaders[jose.HeaderKey("nonce")] = nonce
	}
	if k.kid != "" {
		opts.ExtraHeaders[jose.HeaderKey("kid")] = k.kid
	} else {
		opts.EmbedJWK = true
	}
	key, err := joseKey(k.key)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("acme: creating signer: %w", err)
	}
	if payload == nil {
		payload = []byte{}
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("acme: signing request to %s: %w", url, err)
	}
	return []byte(sig.FullSerialize()), nil
}

// publicJWK returns the public key as a JWK (RFC 7517).
func publicJWK(k crypto.Signer) (*jose.JSONWebKey, error) {
	alg, err := signatureAlgorithm(k)
	if err != nil {
		return nil, err
	}
	return &jose.JSONWebKey{Key: k.Public(), Algorithm: string(alg)}, nil
}

// JWKThumbprint returns the base64url SHA-256 JWK thumbprint (RFC 7638) of
// the key's public half, the second part of a key authorization (§8.1).
func JWKThumbprint(k crypto.Signer) (string, error) {
	jwk, err := publicJWK(k)
	if err != nil {
		return "", err
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("acme: computing JWK thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// marshal is json.Marshal for request payloads.
func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("acme: encoding request: %w", err)
	}
	return b, nil
}
