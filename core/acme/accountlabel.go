package acme

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// DNSAccountLabel returns the account-specific label of a dns-account-01
// challenge (draft-ietf-acme-dns-account-label §3.1): "_" followed by the
// lower-case base32 (RFC 4648 §6) of the first 10 octets of the SHA-256 of
// the account URL:
//
//	"_" || base32(SHA-256(<ACCOUNT_RESOURCE_URL>)[0:10])
//
// Ten octets encode to exactly 16 characters, so there is no padding. The
// record goes at "<label>._acme-challenge.<domain>" and holds the same
// value as a dns-01 record ([DNS01Value]); several accounts can thus
// validate one name at once without overwriting each other.
func DNSAccountLabel(accountURL string) string {
	h := sha256.Sum256([]byte(accountURL))
	return "_" + strings.ToLower(base32.StdEncoding.EncodeToString(h[:10]))
}
