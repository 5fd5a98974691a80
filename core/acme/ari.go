package acme

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// ErrNoRenewalInfo means the CA's directory has no renewalInfo URL
// (RFC 9773 §4).
var ErrNoRenewalInfo = errors.New("acme: CA does not offer renewal information")

// DefaultARIRetryAfter is how long to wait before asking again when the
// renewalInfo answer has no Retry-After (RFC 9773 §4.3 suggests six hours).
const DefaultARIRetryAfter = 6 * time.Hour

// Bounds on the renewalInfo Retry-After: RFC 9773 §4.3 asks clients to set
// reasonable limits on how often they check, and gives one minute and one
// day as examples.
const (
	minARIRetryAfter = time.Minute
	maxARIRetryAfter = 24 * time.Hour
)

// ARICertID returns the certificate identifier of RFC 9773 §4.1:
// base64url(authority key identifier) "." base64url(serial number DER
// content octets).
func ARICertID(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", errors.New("acme: ARI certificate identifier: no certificate")
	}
	if len(cert.AuthorityKeyId) == 0 {
		return "", errors.New("acme: ARI certificate identifier: certificate has no authority key identifier")
	}
	if cert.SerialNumber == nil || cert.SerialNumber.Sign() <= 0 {
		return "", errors.New("acme: ARI certificate identifier: certificate has no positive serial number")
	}
	serial := cert.SerialNumber.Bytes()
	if serial[0]&0x80 != 0 {
		// DER INTEGERs are two's complement: keep the value positive.
		serial = append([]byte{0}, serial...)
	}
	return base64.RawURLEncoding.EncodeToString(cert.AuthorityKeyId) + "." +
		base64.RawURLEncoding.EncodeToString(serial), nil
}

// RenewalInfo is a renewalInfo object (RFC 9773 §4.2).
type RenewalInfo struct {
	// SuggestedWindow is when the CA wants the certificate renewed; a
	// window in the past means "renew now" (RFC 9773 §4.2).
	SuggestedWindow RenewalWindow `json:"suggestedWindow"`
	// ExplanationURL points at a page explaining an early window.
	ExplanationURL string `json:"explanationURL,omitempty"`
	// RetryAfter is when to ask again (RFC 9773 §4.3): the answer's
	// Retry-After kept between one minute and one day, or
	// DefaultARIRetryAfter when absent.
	RetryAfter time.Duration `json:"-"`
}

// RenewalWindow is the suggested renewal window (RFC 9773 §4.2). A decoded
// window always ends after it starts.
type RenewalWindow struct {
	// Start is the earliest suggested renewal time.
	Start time.Time `json:"start"`
	// End is the latest suggested renewal time.
	End time.Time `json:"end"`
}

// RandomTime picks a uniformly random time in the window, as RFC 9773 §4.2
// asks of clients so that renewals of many certificates spread out.
func (w RenewalWindow) RandomTime() time.Time {
	span := w.End.Sub(w.Start)
	if span <= 0 {
		return w.Start
	}
	return w.Start.Add(rand.N(span))
}

func decodeRenewalInfo(b []byte) (RenewalInfo, error) {
	var ri RenewalInfo
	if err := json.Unmarshal(b, &ri); err != nil {
		return RenewalInfo{}, fmt.Errorf("decoding renewal info: %w", err)
	}
	w := ri.SuggestedWindow
	if w.Start.IsZero() || w.End.IsZero() {
		return RenewalInfo{}, errors.New("decoding renewal info: suggested window incomplete")
	}
	if !w.End.After(w.Start) {
		return RenewalInfo{}, errors.New("decoding renewal info: window ends before it starts")
	}
	return ri, nil
}

// GetRenewalInfo fetches the suggested renewal window of the certificate
// with the given [ARICertID] by an unauthenticated GET (RFC 9773 §4.3).
func (c *Client) GetRenewalInfo(ctx context.Context, certID string) (RenewalInfo, error) {
	if certID == "" || strings.ContainsAny(certID, "/?#") {
		return RenewalInfo{}, fmt.Errorf("acme: fetching renewal info: bad certificate identifier %q", certID)
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return RenewalInfo{}, fmt.Errorf("fetching renewal info: %w", err)
	}
	if dir.RenewalInfo == "" {
		return RenewalInfo{}, ErrNoRenewalInfo
	}
	u := strings.TrimSuffix(dir.RenewalInfo, "/") + "/" + certID
	resp, err := c.get(ctx, http.MethodGet, u, contentTypeJSON)
	if err != nil {
		return RenewalInfo{}, fmt.Errorf("fetching renewal info: %w", err)
	}
	ri, err := decodeRenewalInfo(resp.body)
	if err != nil {
		return RenewalInfo{}, fmt.Errorf("fetching renewal info: %w", err)
	}
	if ri.RetryAfter = resp.retryAfter(); ri.RetryAfter == 0 {
		ri.RetryAfter = DefaultARIRetryAfter
	}
	ri.RetryAfter = min(max(ri.RetryAfter, minARIRetryAfter), maxARIRetryAfter)
	return ri, nil
}
