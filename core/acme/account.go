package acme

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
)

// Account statuses (RFC 8555 §7.1.6).
const (
	StatusValid       = "valid"
	StatusDeactivated = "deactivated"
	StatusRevoked     = "revoked"
)

// Account is an ACME account (§7.1.2) together with the two things every
// authenticated request needs: its private key and its URL, the JWS "kid".
// Calls take it by value; the Client keeps no account state.
type Account struct {
	// Key signs every request of the account.
	Key crypto.Signer `json:"-"`
	// URL is the account URL from the Location of newAccount (§7.3).
	URL string `json:"-"`

	// Status is "valid", "deactivated" (by the client, §7.3.6) or
	// "revoked" (by the CA) (§7.1.6).
	Status string `json:"status,omitempty"`
	// Contact lists the account's contact URLs, such as
	// "mailto:admin@example.com" (§7.3).
	Contact []string `json:"contact,omitempty"`
	// TermsOfServiceAgreed reports agreement to the terms of service
	// (§7.3); CAs may leave it out of their answers.
	TermsOfServiceAgreed bool `json:"termsOfServiceAgreed,omitempty"`
	// Orders is the URL of the account's orders list (§7.1.2.1).
	Orders string `json:"orders,omitempty"`
}

func (a Account) signingKey() (signingKey, error) {
	if a.Key == nil || a.URL == "" {
		return signingKey{}, errors.New("acme: account needs a key and a URL")
	}
	return signingKey{key: a.Key, kid: a.URL}, nil
}

// NewAccountRequest is the payload of newAccount (§7.3).
type NewAccountRequest struct {
	// Contact URLs, usually "mailto:" addresses.
	Contact []string
	// TermsOfServiceAgreed tells the CA the user agreed to
	// Directory.Meta.TermsOfService.
	TermsOfServiceAgreed bool
	// OnlyReturnExisting asks for an existing account of the key and never
	// creates one (§7.3.1); the CA answers accountDoesNotExist otherwise.
	OnlyReturnExisting bool
	// ExternalAccountBinding binds the account to an account at the CA
	// (§7.3.4). Required when Directory.Meta.ExternalAccountRequired.
	ExternalAccountBinding *ExternalAccountBinding
}

// NewAccount registers key with the CA (§7.3), or returns the existing
// account of key: the CA answers 200 instead of 201 then (§7.3.1). The request
// carries the public key as "jwk".
func (c *Client) NewAccount(ctx context.Context, key crypto.Signer, req NewAccountRequest) (Account, error) {
	dir, err := c.Directory(ctx)
	if err != nil {
		return Account{}, fmt.Errorf("creating account: %w", err)
	}
	payload := struct {
		Contact              []string        `json:"contact,omitempty"`
		TermsOfServiceAgreed bool            `json:"termsOfServiceAgreed,omitempty"`
		OnlyReturnExisting   bool            `json:"onlyReturnExisting,omitempty"`
		EAB                  json.RawMessage `json:"externalAccountBinding,omitempty"`
	}{Contact: req.Contact, TermsOfServiceAgreed: req.TermsOfServiceAgreed, OnlyReturnExisting: req.OnlyReturnExisting}
	if payload.Contact == nil && !req.OnlyReturnExisting {
		payload.Contact = []string{}
	}
	if req.ExternalAccountBinding != nil {
		if payload.EAB, err = req.ExternalAccountBinding.sign(key, dir.NewAccount); err != nil {
			return Account{}, fmt.Errorf("creating account: %w", err)
		}
	}
	body, err := marshal(payload)
	if err != nil {
		return Account{}, err
	}
	resp, err := c.postJSON(ctx, signingKey{key: key}, dir.NewAccount, body, false)
	if err != nil {
		return Account{}, fmt.Errorf("creating account: %w", err)
	}
	acct, err := decodeAccount(resp.body)
	if err != nil {
		return Account{}, fmt.Errorf("creating account: %w", err)
	}
	if acct.URL = resp.location(); checkURL(acct.URL) != nil {
		return Account{}, fmt.Errorf("creating account: answer has no usable Location (%q)", acct.URL)
	}
	acct.Key = key
	return acct, nil
}

// FindAccount returns the existing account of key (§7.3.1,
// onlyReturnExisting). When there is none the error is a *Problem of type
// ProblemAccountDoesNotExist.
func (c *Client) FindAccount(ctx context.Context, key crypto.Signer) (Account, error) {
	return c.NewAccount(ctx, key, NewAccountRequest{OnlyReturnExisting: true})
}

// GetAccount fetches the account object with POST-as-GET (§7.3.3 notes a
// client reads its account by POST-as-GET to its URL).
func (c *Client) GetAccount(ctx context.Context, acct Account) (Account, error) {
	return c.postAccount(ctx, acct, nil, true, "fetching account")
}

// UpdateAccount replaces the account's contacts (§7.3.2). An empty list
// removes them all.
func (c *Client) UpdateAccount(ctx context.Context, acct Account, contact []string) (Account, error) {
	if contact == nil {
		contact = []string{}
	}
	body, err := marshal(struct {
		Contact []string `json:"contact"`
	}{contact})
	if err != nil {
		return Account{}, err
	}
	return c.postAccount(ctx, acct, body, false, "updating account")
}

// DeactivateAccount deactivates the account for good (§7.3.6): the CA
// refuses every later request signed by it.
func (c *Client) DeactivateAccount(ctx context.Context, acct Account) (Account, error) {
	return c.postAccount(ctx, acct, []byte(`{"status":"deactivated"}`), false, "deactivating account")
}

func (c *Client) postAccount(ctx context.Context, acct Account, body []byte, read bool, what string) (Account, error) {
	k, err := acct.signingKey()
	if err != nil {
		return Account{}, fmt.Errorf("%s: %w", what, err)
	}
	resp, err := c.postJSON(ctx, k, acct.URL, body, read)
	if err != nil {
		return Account{}, fmt.Errorf("%s: %w", what, err)
	}
	out, err := decodeAccount(resp.body)
	if err != nil {
		return Account{}, fmt.Errorf("%s: %w", what, err)
	}
	out.Key, out.URL = acct.Key, acct.URL
	return out, nil
}

// RolloverKey replaces the account key with newKey (§7.3.5). The inner JWS,
// signed by newKey with "jwk" and without nonce, carries {account, oldKey};
// the outer one is signed by the current key. The returned Account holds
// newKey.
func (c *Client) RolloverKey(ctx context.Context, acct Account, newKey crypto.Signer) (Account, error) {
	k, err := acct.signingKey()
	if err != nil {
		return Account{}, fmt.Errorf("rolling over account key: %w", err)
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return Account{}, fmt.Errorf("rolling over account key: %w", err)
	}
	oldJWK, err := publicJWK(acct.Key)
	if err != nil {
		return Account{}, fmt.Errorf("rolling over account key: %w", err)
	}
	inner, err := marshal(struct {
		Account string `json:"account"`
		OldKey  any    `json:"oldKey"`
	}{acct.URL, oldJWK})
	if err != nil {
		return Account{}, err
	}
	signed, err := signJWS(signingKey{key: newKey}, dir.KeyChange, "", inner)
	if err != nil {
		return Account{}, fmt.Errorf("rolling over account key: %w", err)
	}
	if _, err := c.post(ctx, k, dir.KeyChange, signed, false, contentTypeJSON); err != nil {
		return Account{}, fmt.Errorf("rolling over account key: %w", err)
	}
	acct.Key = newKey
	return acct, nil
}

func decodeAccount(b []byte) (Account, error) {
	var a Account
	if err := json.Unmarshal(b, &a); err != nil {
		return Account{}, fmt.Errorf("decoding account: %w", err)
	}
	if a.Status == "" {
		return Account{}, errors.New("decoding account: no status")
	}
	return a, nil
}
