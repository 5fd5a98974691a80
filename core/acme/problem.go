package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Problem types from RFC 8555 §6.7 (namespace "urn:ietf:params:acme:error:"),
// RFC 9773 and draft-ietf-acme-profiles. Compare them with [Problem.Type].
const (
	ProblemAccountDoesNotExist     = "urn:ietf:params:acme:error:accountDoesNotExist"
	ProblemAlreadyReplaced         = "urn:ietf:params:acme:error:alreadyReplaced" // RFC 9773 §7.4
	ProblemAlreadyRevoked          = "urn:ietf:params:acme:error:alreadyRevoked"
	ProblemBadCSR                  = "urn:ietf:params:acme:error:badCSR"
	ProblemBadNonce                = "urn:ietf:params:acme:error:badNonce"
	ProblemBadPublicKey            = "urn:ietf:params:acme:error:badPublicKey"
	ProblemBadRevocationReason     = "urn:ietf:params:acme:error:badRevocationReason"
	ProblemBadSignatureAlgorithm   = "urn:ietf:params:acme:error:badSignatureAlgorithm"
	ProblemCAA                     = "urn:ietf:params:acme:error:caa"
	ProblemCompound                = "urn:ietf:params:acme:error:compound"
	ProblemConnection              = "urn:ietf:params:acme:error:connection"
	ProblemDNS                     = "urn:ietf:params:acme:error:dns"
	ProblemExternalAccountRequired = "urn:ietf:params:acme:error:externalAccountRequired"
	ProblemIncorrectResponse       = "urn:ietf:params:acme:error:incorrectResponse"
	ProblemInvalidContact          = "urn:ietf:params:acme:error:invalidContact"
	ProblemInvalidProfile          = "urn:ietf:params:acme:error:invalidProfile" // draft-ietf-acme-profiles
	ProblemMalformed               = "urn:ietf:params:acme:error:malformed"
	ProblemOrderNotReady           = "urn:ietf:params:acme:error:orderNotReady"
	ProblemRateLimited             = "urn:ietf:params:acme:error:rateLimited"
	ProblemRejectedIdentifier      = "urn:ietf:params:acme:error:rejectedIdentifier"
	ProblemServerInternal          = "urn:ietf:params:acme:error:serverInternal"
	ProblemTLS                     = "urn:ietf:params:acme:error:tls"
	ProblemUnauthorized            = "urn:ietf:params:acme:error:unauthorized"
	ProblemUnsupportedContact      = "urn:ietf:params:acme:error:unsupportedContact"
	ProblemUnsupportedIdentifier   = "urn:ietf:params:acme:error:unsupportedIdentifier"
	ProblemUserActionRequired      = "urn:ietf:params:acme:error:userActionRequired"
)

// Problem is a problem document (RFC 9457, RFC 8555 §6.7) returned by the CA,
// either as an HTTP error or embedded in an order, authorization or
// challenge. Match it with errors.As:
//
//	var p *acme.Problem
//	if errors.As(err, &p) && p.Type == acme.ProblemRateLimited { wait(p.RetryAfter) }
type Problem struct {
	// Type is a URI naming the kind of problem, one of the Problem*
	// constants for ACME errors; "about:blank" when the CA sent none
	// (RFC 9457 §3.1.1, §4.2.1).
	Type string `json:"type,omitempty"`
	// Title is a short, human summary of the type (RFC 9457 §3.1.3).
	Title string `json:"title,omitempty"`
	// Detail explains this occurrence, for humans (RFC 9457 §3.1.4).
	Detail string `json:"detail,omitempty"`
	// Status is the HTTP status code, from the document or else from
	// the answer (RFC 9457 §3.1.2).
	Status int `json:"status,omitempty"`
	// Instance is a URI for this occurrence, such as a page with more
	// detail (RFC 9457 §3.1.5; RFC 8555 §7.3.3 uses it for
	// userActionRequired).
	Instance string `json:"instance,omitempty"`
	// Identifier is set on subproblems (§6.7.1) and sometimes on the top
	// level by CAs that report a single failing identifier.
	Identifier *Identifier `json:"identifier,omitempty"`
	// Subproblems lists per-identifier problems (§6.7.1), for example one
	// per rejected name of a newOrder.
	Subproblems []Subproblem `json:"subproblems,omitempty"`

	// RetryAfter is the HTTP Retry-After delay of the answer that carried
	// the problem (RFC 8555 §6.6 for rateLimited), zero if absent.
	RetryAfter time.Duration `json:"-"`
	// URL is the request URL whose answer carried the problem.
	URL string `json:"-"`
}

// Subproblem is one entry of [Problem.Subproblems] (RFC 8555 §6.7.1).
type Subproblem struct {
	// Type is the problem type URI, as in [Problem.Type].
	Type string `json:"type,omitempty"`
	// Detail explains the problem with this identifier.
	Detail string `json:"detail,omitempty"`
	// Identifier is the identifier the subproblem is about.
	Identifier *Identifier `json:"identifier,omitempty"`
}

// Error renders the type's short name, the detail and the subproblems.
func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString("acme: ")
	if p.Type != "" {
		b.WriteString(shortProblemType(p.Type))
	} else {
		b.WriteString("problem")
	}
	if p.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", p.Status)
	}
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	} else if p.Title != "" {
		b.WriteString(": ")
		b.WriteString(p.Title)
	}
	if p.Identifier != nil {
		fmt.Fprintf(&b, " [%s]", p.Identifier.Value)
	}
	for _, s := range p.Subproblems {
		b.WriteString("; ")
		if s.Identifier != nil {
			b.WriteString(s.Identifier.Value)
			b.WriteString(": ")
		}
		b.WriteString(shortProblemType(s.Type))
		if s.Detail != "" {
			b.WriteString(": ")
			b.WriteString(s.Detail)
		}
	}
	if p.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", p.RetryAfter)
	}
	return b.String()
}

// LogValue implements slog.LogValuer.
func (p *Problem) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("type", p.Type)}
	if p.Detail != "" {
		attrs = append(attrs, slog.String("detail", p.Detail))
	}
	if p.Status != 0 {
		attrs = append(attrs, slog.Int("status", p.Status))
	}
	if p.Identifier != nil {
		attrs = append(attrs, slog.String("identifier", p.Identifier.Value))
	}
	for i, s := range p.Subproblems {
		var id string
		if s.Identifier != nil {
			id = s.Identifier.Value
		}
		attrs = append(attrs, slog.Group(fmt.Sprintf("sub%d", i),
			slog.String("type", s.Type), slog.String("identifier", id), slog.String("detail", s.Detail)))
	}
	if p.RetryAfter > 0 {
		attrs = append(attrs, slog.Duration("retry_after", p.RetryAfter))
	}
	return slog.GroupValue(attrs...)
}

// IsProblem reports whether err wraps a [Problem] of the given type.
func IsProblem(err error, problemType string) bool {
	var p *Problem
	return errors.As(err, &p) && p.Type == problemType
}

func shortProblemType(t string) string {
	return strings.TrimPrefix(t, "urn:ietf:params:acme:error:")
}

// decodeProblem parses a problem document. It fails on invalid JSON and on a
// document with neither type nor detail, which is no problem document at all.
func decodeProblem(b []byte) (*Problem, error) {
	var p Problem
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decoding problem document: %w", err)
	}
	if p.Type == "" && p.Detail == "" && p.Title == "" {
		return nil, errors.New("decoding problem document: no type, title or detail")
	}
	if p.Type == "" {
		p.Type = "about:blank" // RFC 9457 §4.2.1
	}
	return &p, nil
}

// HTTPError is an HTTP error answer that is not a problem document, such as
// an HTML page from a proxy.
type HTTPError struct {
	// Method is the request's HTTP method; signed requests are "POST".
	Method string
	// URL is the request URL.
	URL string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// ContentType is the answer's Content-Type header.
	ContentType string
	// Body is the start of the answer, for the error message.
	Body string
	// RetryAfter is the answer's Retry-After delay, zero if absent.
	RetryAfter time.Duration
}

// Error renders method, URL, status, content type and the start of the body.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("acme: %s %s: HTTP %d", e.Method, e.URL, e.StatusCode)
	if e.ContentType != "" {
		msg += " (" + e.ContentType + ")"
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}
