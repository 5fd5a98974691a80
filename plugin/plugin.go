// Package plugin is the boundary between zonecert and its out-of-process DNS
// provider plugins: the domain types every side shares, the Provider contract,
// and the go-plugin handshake.
//
// Provider authors import [github.com/zonecert/zonecert/plugin/sdk]; the host
// imports [github.com/zonecert/zonecert/plugin/host]. Both speak the versioned
// gRPC protocol zonecert.provider.v1 defined under plugin/proto.
package plugin

import (
	"context"
	"fmt"
	"time"
)

// Record is one TXT value to publish or remove. The host owns all DNS
// knowledge: FQDN is the final name after CNAME delegation and Zone is the
// zone found by SOA walk, so a provider never walks DNS itself.
//
// A Record says "this TXT value at this FQDN in this zone". It deliberately
// does not say "an ACME challenge": dns-account-01 and dns-persist-01 use the
// same shape with other labels.
type Record struct {
	// ID is assigned by the host and is unique within one call; results are
	// matched to records by it.
	ID string
	// FQDN is the absolute owner name, lower case, with a trailing dot.
	FQDN string
	// Zone is the absolute zone apex, lower case, with a trailing dot. FQDN is
	// always within Zone.
	Zone string
	// Value is the TXT value, unquoted.
	Value string
	// TTL in seconds; 0 lets the provider choose its minimum.
	TTL uint32
	// State is the opaque cleanup state Present returned for this record.
	// It is set on CleanUp calls only (and may be empty if Present's result
	// was lost, e.g. the host crashed mid-call).
	State []byte

	// The ACME details below reach only plugins that declare
	// Capabilities.ChallengeDetails (a bridge to an API that computes the
	// TXT value itself, as lego's providers do), and only for dns-01
	// records made from an ACME challenge; otherwise they are empty.

	// Identifier is the domain as ordered, "*." kept for a wildcard.
	Identifier string
	// Token is the ACME challenge token.
	Token string
	// KeyAuthorization is Token "." the account key's thumbprint (RFC 8555
	// section 8.1). It is not secret: the CA sees it, and Value is its hash.
	KeyAuthorization string
}

// WithoutChallengeDetails returns r without the ACME details, as a plugin
// that does not declare Capabilities.ChallengeDetails receives it.
func (r Record) WithoutChallengeDetails() Record {
	r.Identifier, r.Token, r.KeyAuthorization = "", "", ""
	return r
}

// Result is the outcome for one record of a Present or CleanUp call.
type Result struct {
	// ID echoes Record.ID.
	ID string
	// State is the opaque cleanup state returned by Present. The host
	// journals it and hands it back in Record.State on CleanUp, so cleanup
	// works from a fresh process after any restart. Ignored for CleanUp.
	State []byte
	// Err is nil on success.
	Err *Error
}

// Code classifies a per-record failure so the host can decide what to do.
type Code int

// Error codes, mirrored one to one in the protobuf enum.
const (
	CodeOther        Code = iota // anything else
	CodeAuth                     // credentials missing, wrong or lacking permission
	CodeZoneNotFound             // the provider does not host (or cannot write) this zone
	CodeRateLimited              // the provider's API throttled the call
	CodeConflict                 // the provider's state conflicts with the change
)

func (c Code) String() string {
	switch c {
	case CodeOther:
		return "other"
	case CodeAuth:
		return "auth"
	case CodeZoneNotFound:
		return "zone-not-found"
	case CodeRateLimited:
		return "rate-limited"
	case CodeConflict:
		return "conflict"
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// Error is a per-record or whole-call failure reported by a provider.
type Error struct {
	Code      Code
	Retryable bool
	Message   string
	// RetryAfter is how long the provider's API asked callers to wait
	// before the next call (an HTTP Retry-After, say); zero if it did not
	// say. The host pauses the provider instance at least this long before
	// it sends a Retryable failure again. It crosses the wire in whole
	// milliseconds, at most about 49 days.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, retryable bool, format string, args ...any) *Error {
	return &Error{Code: code, Retryable: retryable, Message: fmt.Sprintf(format, args...)}
}

// Provider is the contract every DNS provider implements, in process (SDK)
// or behind the gRPC boundary (host client).
//
// Semantics, enforced by the conformance kit:
//   - Present APPENDS: it MUST NOT remove other TXT values at the same name,
//     so a wildcard and its apex can both be validated at once.
//   - CleanUp removes EXACTLY the given value and nothing else.
//   - Both are idempotent: presenting a value twice leaves one copy; cleaning
//     up an absent value succeeds.
//   - Both honour ctx's deadline and are safe for concurrent calls.
//   - A provider keeps nothing in memory it needs later: what CleanUp needs
//     travels in Result.State.
//
// The returned slice holds one Result per record, in any order. A non-nil
// error means the call as a whole failed (an *Error where a code applies).
type Provider interface {
	Present(ctx context.Context, records []Record) ([]Result, error)
	CleanUp(ctx context.Context, records []Record) ([]Result, error)
}

// Syncer is an optional capability: the provider can tell when its own
// servers have the change (Route 53's INSYNC). The host calls it after
// Present and before checking authoritative nameservers; each record carries
// the State that Present returned for it.
type Syncer interface {
	WaitForSync(ctx context.Context, records []Record) error
}

// ZoneLister is an optional capability: the provider lists the zones it
// hosts, so the host can report a disagreement with its SOA walk.
type ZoneLister interface {
	ListZones(ctx context.Context) ([]string, error)
}
