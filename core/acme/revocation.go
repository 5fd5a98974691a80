package acme

import (
	"context"
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
)

// RevocationReason is a CRL reason code (RFC 5280 §5.3.1) sent with a
// revocation request (RFC 8555 §7.6).
type RevocationReason int

// Reason codes of RFC 5280 §5.3.1 (7 is unused).
const (
	ReasonUnspecified          RevocationReason = 0
	ReasonKeyCompromise        RevocationReason = 1
	ReasonCACompromise         RevocationReason = 2
	ReasonAffiliationChanged   RevocationReason = 3
	ReasonSuperseded           RevocationReason = 4
	ReasonCessationOfOperation RevocationReason = 5
	ReasonCertificateHold      RevocationReason = 6
	ReasonRemoveFromCRL        RevocationReason = 8
	ReasonPrivilegeWithdrawn   RevocationReason = 9
	ReasonAACompromise         RevocationReason = 10
)

// RevokeCertificate revokes the DER certificate with a request signed by
// the account (§7.6); the account must own the certificate or hold
// authorizations for all its names. ReasonUnspecified omits the reason.
func (c *Client) RevokeCertificate(ctx context.Context, acct Account, certDER []byte, reason RevocationReason) error {
	k, err := acct.signingKey()
	if err != nil {
		return fmt.Errorf("revoking certificate: %w", err)
	}
	return c.revoke(ctx, k, certDER, reason)
}

// RevokeCertificateWithKey revokes the DER certificate with a request signed
// by the certificate's own private key, carried as "jwk" (§7.6). It needs no
// account, which suits a key compromise.
func (c *Client) RevokeCertificateWithKey(ctx context.Context, certKey crypto.Signer, certDER []byte, reason RevocationReason) error {
	if certKey == nil {
		return errors.New("acme: revoking certificate: no certificate key")
	}
	return c.revoke(ctx, signingKey{key: certKey}, certDER, reason)
}

func (c *Client) revoke(ctx context.Context, k signingKey, certDER []byte, reason RevocationReason) error {
	if len(certDER) == 0 {
		return errors.New("acme: revoking certificate: empty certificate")
	}
	if reason < 0 || reason == 7 || reason > ReasonAACompromise {
		return fmt.Errorf("acme: revoking certificate: invalid reason code %d", reason)
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return fmt.Errorf("revoking certificate: %w", err)
	}
	body, err := marshal(struct {
		Certificate string           `json:"certificate"`
		Reason      RevocationReason `json:"reason,omitempty"`
	}{base64.RawURLEncoding.EncodeToString(certDER), reason})
	if err != nil {
		return err
	}
	if _, err := c.post(ctx, k, dir.RevokeCert, body, false, ""); err != nil {
		return fmt.Errorf("revoking certificate: %w", err)
	}
	return nil
}
