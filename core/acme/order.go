package acme

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Order and authorization statuses (RFC 8555 §7.1.6).
const (
	StatusPending    = "pending"
	StatusReady      = "ready"
	StatusProcessing = "processing"
	StatusInvalid    = "invalid"
	StatusExpired    = "expired"
)

// Identifier types (§9.7.7).
const IdentifierDNS = "dns"

// Identifier is what a certificate is for (§7.1.3): for "dns" a domain name,
// with a leading "*." for a wildcard in an order (§7.1.3, §7.1.4).
type Identifier struct {
	// Type is the identifier type; zonecert uses [IdentifierDNS].
	Type string `json:"type"`
	// Value is the name itself, such as "www.example.com".
	Value string `json:"value"`
}

// DNSIdentifiers makes "dns" identifiers of names, lower-cased and without
// a trailing dot.
func DNSIdentifiers(names ...string) []Identifier {
	ids := make([]Identifier, 0, len(names))
	for _, n := range names {
		ids = append(ids, Identifier{Type: IdentifierDNS, Value: strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")})
	}
	return ids
}

// OrderRequest is the payload of newOrder (§7.4).
type OrderRequest struct {
	// Identifiers are the names the certificate is for; at least one.
	Identifiers []Identifier
	// NotBefore and NotAfter request a validity period; zero omits them
	// (most CAs ignore or refuse them).
	NotBefore, NotAfter time.Time
	// Profile names one of Directory.Meta.Profiles
	// (draft-ietf-acme-profiles §4); empty lets the CA choose.
	Profile string
	// Replaces is the ARI certificate identifier ([ARICertID]) of the
	// certificate this order renews (RFC 9773 §5).
	Replaces string
}

// Order is an order object (§7.1.3).
type Order struct {
	// URL is the order URL from the Location of newOrder.
	URL string `json:"-"`
	// RetryAfter is the Retry-After of the answer that carried the order.
	RetryAfter time.Duration `json:"-"`

	// Status moves pending → ready (all authorizations valid) →
	// processing (after finalize) → valid (certificate issued), or to
	// invalid on any failure (§7.1.6).
	Status string `json:"status"`
	// Expires is when the CA gives up on a pending or ready order.
	Expires time.Time `json:"expires,omitzero"`
	// Identifiers are the names the order is for.
	Identifiers []Identifier `json:"identifiers"`
	// NotBefore and NotAfter echo the requested validity period, if any.
	NotBefore time.Time `json:"notBefore,omitzero"`
	NotAfter  time.Time `json:"notAfter,omitzero"`
	// Error is why an invalid order failed.
	Error *Problem `json:"error,omitempty"`
	// Authorizations are the URLs of the order's authorizations, one per
	// identifier (§7.1.4).
	Authorizations []string `json:"authorizations"`
	// Finalize is where the CSR goes once the order is ready (§7.4).
	Finalize string `json:"finalize"`
	// Certificate is the URL of the issued chain once valid (§7.4.2).
	Certificate string `json:"certificate,omitempty"`
	// Profile is the profile the CA applies (draft-ietf-acme-profiles §4),
	// possibly one it chose itself.
	Profile string `json:"profile,omitempty"`
	// Replaces echoes the ARI identifier of the replaced certificate
	// (RFC 9773 §5).
	Replaces string `json:"replaces,omitempty"`
}

func decodeOrder(b []byte) (Order, error) {
	var o Order
	if err := json.Unmarshal(b, &o); err != nil {
		return Order{}, fmt.Errorf("decoding order: %w", err)
	}
	switch o.Status {
	case StatusPending, StatusReady, StatusProcessing, StatusValid, StatusInvalid:
	default:
		return Order{}, fmt.Errorf("decoding order: unknown status %q", o.Status)
	}
	if err := checkURL(o.Finalize); err != nil {
		return Order{}, fmt.Errorf("decoding order: finalize: %w", err)
	}
	for _, a := range o.Authorizations {
		if err := checkURL(a); err != nil {
			return Order{}, fmt.Errorf("decoding order: authorization: %w", err)
		}
	}
	if o.Status == StatusValid {
		if err := checkURL(o.Certificate); err != nil {
			return Order{}, fmt.Errorf("decoding order: certificate: %w", err)
		}
	}
	return o, nil
}

// NewOrder creates an order (§7.4). The CA answers 201 with the order URL in
// Location.
func (c *Client) NewOrder(ctx context.Context, acct Account, req OrderRequest) (Order, error) {
	if len(req.Identifiers) == 0 {
		return Order{}, errors.New("acme: creating order: no identifiers")
	}
	k, err := acct.signingKey()
	if err != nil {
		return Order{}, fmt.Errorf("creating order: %w", err)
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return Order{}, fmt.Errorf("creating order: %w", err)
	}
	body, err := marshal(struct {
		Identifiers []Identifier `json:"identifiers"`
		NotBefore   time.Time    `json:"notBefore,omitzero"`
		NotAfter    time.Time    `json:"notAfter,omitzero"`
		Profile     string       `json:"profile,omitempty"`
		Replaces    string       `json:"replaces,omitempty"`
	}{req.Identifiers, req.NotBefore.UTC(), req.NotAfter.UTC(), req.Profile, req.Replaces})
	if err != nil {
		return Order{}, err
	}
	leave, err := c.gate.enter(ctx, true)
	if err != nil {
		return Order{}, fmt.Errorf("creating order: %w", err)
	}
	resp, err := c.postJSON(ctx, k, dir.NewOrder, body, false)
	leave()
	if err != nil {
		return Order{}, fmt.Errorf("creating order: %w", err)
	}
	o, err := decodeOrder(resp.body)
	if err != nil {
		return Order{}, fmt.Errorf("creating order: %w", err)
	}
	if o.URL = resp.location(); checkURL(o.URL) != nil {
		return Order{}, fmt.Errorf("creating order: answer has no usable Location (%q)", o.URL)
	}
	o.RetryAfter = resp.retryAfter()
	return o, nil
}

// GetOrder fetches an order with POST-as-GET (§7.4).
func (c *Client) GetOrder(ctx context.Context, acct Account, orderURL string) (Order, error) {
	k, err := acct.signingKey()
	if err != nil {
		return Order{}, fmt.Errorf("fetching order: %w", err)
	}
	resp, err := c.postJSON(ctx, k, orderURL, nil, true)
	if err != nil {
		return Order{}, fmt.Errorf("fetching order: %w", err)
	}
	o, err := decodeOrder(resp.body)
	if err != nil {
		return Order{}, fmt.Errorf("fetching order: %w", err)
	}
	o.URL, o.RetryAfter = orderURL, resp.retryAfter()
	return o, nil
}

// ErrOrderInvalid is wrapped by errors for orders that became invalid; the
// error also wraps Order.Error when the CA gave one.
var ErrOrderInvalid = errors.New("acme: order is invalid")

// PollOrder fetches the order until it leaves "pending" and "processing"
// (§7.4): waiting Retry-After when the CA sends it, else backing off from
// Options.PollInterval. It returns the order when ready or valid, and an
// error wrapping ErrOrderInvalid (and the order's Problem) when invalid. The
// context bounds the wait.
func (c *Client) PollOrder(ctx context.Context, acct Account, orderURL string) (Order, error) {
	for n := 0; ; n++ {
		o, err := c.GetOrder(ctx, acct, orderURL)
		if err != nil {
			return Order{}, err
		}
		switch o.Status {
		case StatusReady, StatusValid:
			return o, nil
		case StatusInvalid:
			return o, orderInvalid(o)
		}
		if err := c.pollWait(ctx, n, o.RetryAfter); err != nil {
			return o, fmt.Errorf("polling order %s (status %s): %w", orderURL, o.Status, err)
		}
	}
}

func orderInvalid(o Order) error {
	if o.Error != nil {
		return fmt.Errorf("%w: %w", ErrOrderInvalid, o.Error)
	}
	return ErrOrderInvalid
}

// pollWait waits before poll n+1: Retry-After when given (capped at
// MaxBackoff), else exponential backoff from PollInterval.
func (c *Client) pollWait(ctx context.Context, n int, retryAfter time.Duration) error {
	d := c.backoff(c.pollInterval, n)
	if retryAfter > 0 {
		d = min(retryAfter, c.maxBackoff)
	}
	return wait(ctx, d)
}

// FinalizeOrder sends the DER CSR to the order's finalize URL (§7.4) and
// polls until the order is valid (the certificate URL is then set) or
// invalid. The order must be ready.
func (c *Client) FinalizeOrder(ctx context.Context, acct Account, order Order, csrDER []byte) (Order, error) {
	k, err := acct.signingKey()
	if err != nil {
		return Order{}, fmt.Errorf("finalizing order: %w", err)
	}
	if len(csrDER) == 0 {
		return Order{}, errors.New("acme: finalizing order: empty CSR")
	}
	body, err := marshal(struct {
		CSR string `json:"csr"`
	}{base64.RawURLEncoding.EncodeToString(csrDER)})
	if err != nil {
		return Order{}, err
	}
	resp, err := c.postJSON(ctx, k, order.Finalize, body, false)
	if err != nil {
		return Order{}, fmt.Errorf("finalizing order: %w", err)
	}
	o, err := decodeOrder(resp.body)
	if err != nil {
		return Order{}, fmt.Errorf("finalizing order: %w", err)
	}
	o.URL, o.RetryAfter = order.URL, resp.retryAfter()
	if o.Status == StatusProcessing {
		if err := c.pollWait(ctx, 0, o.RetryAfter); err != nil {
			return o, fmt.Errorf("finalizing order: %w", err)
		}
		if o, err = c.PollOrder(ctx, acct, order.URL); err != nil {
			return o, fmt.Errorf("finalizing order: %w", err)
		}
	}
	switch o.Status {
	case StatusValid:
		return o, nil
	case StatusInvalid:
		return o, fmt.Errorf("finalizing order: %w", orderInvalid(o))
	}
	return o, fmt.Errorf("finalizing order: unexpected status %q", o.Status)
}
