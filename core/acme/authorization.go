package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Authorization is an authorization object (RFC 8555 §7.1.4): the account's
// proof of control over one identifier.
type Authorization struct {
	// URL is the authorization URL, taken from the order.
	URL string `json:"-"`
	// RetryAfter is the Retry-After of the answer that carried it.
	RetryAfter time.Duration `json:"-"`

	// Identifier never carries the "*." of a wildcard; Wildcard says so
	// instead (§7.1.4).
	Identifier Identifier `json:"identifier"`
	// Status is "pending" until a challenge succeeds ("valid") or fails
	// ("invalid"); "deactivated", "expired" and "revoked" are final too
	// (§7.1.6).
	Status string `json:"status"`
	// Expires is when the authorization stops counting; required for
	// valid authorizations (§7.1.4).
	Expires time.Time `json:"expires,omitzero"`
	// Challenges are the ways the CA offers to prove control; any one
	// suffices (§7.1.4). Pick one with [Authorization.Challenge].
	Challenges []Challenge `json:"challenges"`
	// Wildcard is true when the authorization is for "*." + Identifier.Value
	// (§7.1.4); its challenge is then dns-01 only.
	Wildcard bool `json:"wildcard,omitempty"`
}

// Challenge returns the authorization's challenge of the given type
// (such as [ChallengeDNS01]), if offered.
func (a Authorization) Challenge(typ string) (Challenge, bool) {
	for _, ch := range a.Challenges {
		if ch.Type == typ {
			return ch, true
		}
	}
	return Challenge{}, false
}

func decodeAuthorization(b []byte) (Authorization, error) {
	var a Authorization
	if err := json.Unmarshal(b, &a); err != nil {
		return Authorization{}, fmt.Errorf("decoding authorization: %w", err)
	}
	switch a.Status {
	case StatusPending, StatusValid, StatusInvalid, StatusDeactivated, StatusExpired, StatusRevoked:
	default:
		return Authorization{}, fmt.Errorf("decoding authorization: unknown status %q", a.Status)
	}
	if a.Identifier.Type == "" || a.Identifier.Value == "" {
		return Authorization{}, errors.New("decoding authorization: no identifier")
	}
	for _, ch := range a.Challenges {
		if ch.Type == "" {
			return Authorization{}, errors.New("decoding authorization: challenge without type")
		}
		if err := checkURL(ch.URL); err != nil {
			return Authorization{}, fmt.Errorf("decoding authorization: challenge %s: %w", ch.Type, err)
		}
	}
	return a, nil
}

// GetAuthorization fetches an authorization with POST-as-GET (§7.5).
func (c *Client) GetAuthorization(ctx context.Context, acct Account, authzURL string) (Authorization, error) {
	return c.postAuthorization(ctx, acct, authzURL, nil, "fetching authorization")
}

// DeactivateAuthorization gives up an authorization (§7.5.2), so that it no
// longer counts as pending at the CA.
func (c *Client) DeactivateAuthorization(ctx context.Context, acct Account, authzURL string) (Authorization, error) {
	return c.postAuthorization(ctx, acct, authzURL, []byte(`{"status":"deactivated"}`), "deactivating authorization")
}

func (c *Client) postAuthorization(ctx context.Context, acct Account, authzURL string, body []byte, what string) (Authorization, error) {
	k, err := acct.signingKey()
	if err != nil {
		return Authorization{}, fmt.Errorf("%s: %w", what, err)
	}
	leave, err := c.gate.enter(ctx, false)
	if err != nil {
		return Authorization{}, fmt.Errorf("%s: %w", what, err)
	}
	resp, err := c.postJSON(ctx, k, authzURL, body, body == nil)
	leave()
	if err != nil {
		return Authorization{}, fmt.Errorf("%s: %w", what, err)
	}
	a, err := decodeAuthorization(resp.body)
	if err != nil {
		return Authorization{}, fmt.Errorf("%s: %w", what, err)
	}
	a.URL, a.RetryAfter = authzURL, resp.retryAfter()
	return a, nil
}

// ErrAuthorizationInvalid is wrapped by errors for authorizations that did
// not become valid; the error also wraps the failed challenge's Problem.
var ErrAuthorizationInvalid = errors.New("acme: authorization failed")

// PollAuthorization fetches the authorization until it leaves "pending"
// (§7.5.1), honouring Retry-After and else backing off from
// Options.PollInterval. It returns the authorization when valid, and an
// error wrapping ErrAuthorizationInvalid and the challenge's *Problem
// otherwise. The context bounds the wait.
func (c *Client) PollAuthorization(ctx context.Context, acct Account, authzURL string) (Authorization, error) {
	for n := 0; ; n++ {
		a, err := c.GetAuthorization(ctx, acct, authzURL)
		if err != nil {
			return Authorization{}, err
		}
		switch a.Status {
		case StatusValid:
			return a, nil
		case StatusPending:
		default:
			return a, authorizationFailed(a)
		}
		if err := c.pollWait(ctx, n, a.RetryAfter); err != nil {
			return a, fmt.Errorf("polling authorization %s: %w", authzURL, err)
		}
	}
}

func authorizationFailed(a Authorization) error {
	for _, ch := range a.Challenges {
		if ch.Error != nil {
			return fmt.Errorf("%w: %s is %s: %w", ErrAuthorizationInvalid, a.Identifier.Value, a.Status, ch.Error)
		}
	}
	return fmt.Errorf("%w: %s is %s", ErrAuthorizationInvalid, a.Identifier.Value, a.Status)
}

// DeactivatePendingAuthorizations deactivates every authorization of the
// order that is still pending (§7.5.2), which a client should do when it
// abandons an order, so that they do not count against pending-authorization
// limits. It returns the errors of the authorizations it could not deactivate,
// joined.
func (c *Client) DeactivatePendingAuthorizations(ctx context.Context, acct Account, order Order) error {
	var errs []error
	for _, u := range order.Authorizations {
		a, err := c.GetAuthorization(ctx, acct, u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if a.Status != StatusPending {
			continue
		}
		if _, err := c.DeactivateAuthorization(ctx, acct, u); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
