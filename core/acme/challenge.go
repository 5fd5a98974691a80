package acme

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Challenge types. dns-01 is RFC 8555 §8.4; the others are listed so callers
// can recognise them: http-01 (§8.3), tls-alpn-01 (RFC 8737),
// dns-account-01 (draft-ietf-acme-dns-account-label) and dns-persist-01
// (draft-ietf-acme-dns-persist).
const (
	ChallengeDNS01        = "dns-01"
	ChallengeHTTP01       = "http-01"
	ChallengeTLSALPN01    = "tls-alpn-01"
	ChallengeDNSAccount01 = "dns-account-01"
	ChallengeDNSPersist01 = "dns-persist-01"
)

// Challenge is a challenge object (§7.1.5, §8).
type Challenge struct {
	// Type is the validation method, such as [ChallengeDNS01] (§8).
	Type string `json:"type"`
	// URL is where [Client.AcceptChallenge] posts to respond (§7.5.1).
	URL string `json:"url"`
	// Status is "pending", "processing", "valid" or "invalid" (§7.1.6).
	Status string `json:"status"`
	// Token is the random value of §8.1 for token-based challenges
	// (dns-persist-01 has none).
	Token string `json:"token,omitempty"`
	// IssuerDomainNames are the issuer domain names a dns-persist-01
	// record may name (draft-ietf-acme-dns-persist, the challenge's
	// "issuer-domain-names"); see [PersistRecord].
	IssuerDomainNames []string `json:"issuer-domain-names,omitempty"`
	// AccountURI is the account URI a dns-persist-01 record must carry,
	// where the CA states it (Pebble does); otherwise it is the account URL.
	AccountURI string `json:"accounturi,omitempty"`
	// Validated is when the CA validated the challenge, once valid.
	Validated time.Time `json:"validated,omitzero"`
	// Error is why validation failed (§7.1.5).
	Error *Problem `json:"error,omitempty"`
}

// KeyAuthorization returns token || "." || base64url(JWK thumbprint of the
// account key) (§8.1).
func KeyAuthorization(accountKey crypto.Signer, token string) (string, error) {
	tp, err := JWKThumbprint(accountKey)
	if err != nil {
		return "", err
	}
	return token + "." + tp, nil
}

// DNS01Value returns the TXT record value for a dns-01 challenge (§8.4):
// base64url(SHA-256(key authorization)). It goes at
// "_acme-challenge.<domain>", without the wildcard label.
func DNS01Value(keyAuthorization string) string {
	h := sha256.Sum256([]byte(keyAuthorization))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// AcceptChallenge tells the CA the challenge is ready to be validated by
// posting the empty object {} to its URL (§7.5.1). Validation runs
// asynchronously: poll the authorization for the outcome.
func (c *Client) AcceptChallenge(ctx context.Context, acct Account, challengeURL string) (Challenge, error) {
	k, err := acct.signingKey()
	if err != nil {
		return Challenge{}, fmt.Errorf("responding to challenge: %w", err)
	}
	resp, err := c.postJSON(ctx, k, challengeURL, []byte("{}"), false)
	if err != nil {
		return Challenge{}, fmt.Errorf("responding to challenge: %w", err)
	}
	var ch Challenge
	if err := json.Unmarshal(resp.body, &ch); err != nil {
		return Challenge{}, fmt.Errorf("responding to challenge: decoding challenge: %w", err)
	}
	return ch, nil
}
