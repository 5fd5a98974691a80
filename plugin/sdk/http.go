package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/zonecert/zonecert/plugin"
)

// JSONAPI is a small client for a JSON REST API: one base URL, headers sent
// with every request (credentials, say), and answers other than 2xx
// returned as *HTTPError, which [Classify] turns into the codes the host
// acts on.
type JSONAPI struct {
	// Base is the API's base URL; request paths are appended to it.
	Base string
	// Header is sent with every request. It may hold secrets: JSONAPI
	// never logs it, nor puts it in errors.
	Header http.Header
	// HTTP is the client to use; nil means a client with a 30s timeout.
	HTTP *http.Client
}

// maxAnswer bounds an API answer read into memory.
const maxAnswer = 4 << 20

// Do sends one request: in (if not nil) as a JSON body, and the answer
// decoded into out (if not nil). An answer outside 2xx is an *HTTPError.
func (c *JSONAPI) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Base, "/")+path, body)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &HTTPError{Method: method, Path: path, Status: resp.StatusCode, Body: data,
			Header: resp.Header, RetryAfter: RetryAfterOf(resp.Header, time.Now())}
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
	}
	return nil
}

// HTTPError is an API answer outside 2xx.
type HTTPError struct {
	Method, Path string
	Status       int
	// Body is the answer's body (at most 4 MiB), often the API's own error
	// document.
	Body []byte
	// Header is the answer's header, for what the SDK does not read.
	Header http.Header
	// RetryAfter is how long the answer asks callers to wait (see
	// RetryAfterOf), zero if it does not say.
	RetryAfter time.Duration
}

// RetryAfterOf reads how long an answer asks callers to wait: Retry-After
// (RFC 9110 §10.2.3), else RateLimit-Reset, else X-RateLimit-Reset. The
// rate-limit headers carry seconds, or (as many APIs send them) a Unix
// time; a number past one billion is read as a Unix time. Zero if none
// says.
func RetryAfterOf(h http.Header, now time.Time) time.Duration {
	if d := ParseRetryAfter(h.Get("Retry-After"), now); d > 0 {
		return d
	}
	for _, k := range []string{"RateLimit-Reset", "X-RateLimit-Reset"} {
		if d := parseReset(h.Get(k), now); d > 0 {
			return d
		}
	}
	return 0
}

// unixTimeFloor separates a Unix time (2001 on) from a delay in seconds.
const unixTimeFloor = 1_000_000_000

func parseReset(v string, now time.Time) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	switch {
	case err != nil || n <= 0:
		return 0
	case n >= unixTimeFloor:
		if t := time.Unix(n, 0); t.After(now) {
			return t.Sub(now)
		}
		return 0
	default:
		return time.Duration(n) * time.Second
	}
}

func (e *HTTPError) Error() string {
	msg := strings.TrimSpace(string(e.Body))
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), msg)
}

// ParseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3):
// delay-seconds or an HTTP-date after now. Anything else is zero.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Classify turns an error from an API call into the *Error the host acts
// on. An *Error passes through. An *HTTPError is classified by status: 401
// and 403 are CodeAuth, 404 CodeZoneNotFound, 409 CodeConflict, 429
// CodeRateLimited (retryable), 5xx retryable; other 4xx are final. A
// Retry-After on a retryable answer becomes Error.RetryAfter. A cancelled or expired context is final;
// any other failure (the network, say) is retryable.
func Classify(err error) *Error {
	if err == nil {
		return nil
	}
	var pe *plugin.Error
	if errors.As(err, &pe) {
		return pe
	}
	var he *HTTPError
	switch {
	case errors.As(err, &he):
		switch s := he.Status; {
		case s == http.StatusUnauthorized || s == http.StatusForbidden:
			return &Error{Code: CodeAuth, Message: he.Error()}
		case s == http.StatusNotFound:
			return &Error{Code: CodeZoneNotFound, Message: he.Error()}
		case s == http.StatusConflict:
			return &Error{Code: CodeConflict, Message: he.Error()}
		case s == http.StatusTooManyRequests:
			msg := he.Error()
			if he.RetryAfter > 0 {
				msg += fmt.Sprintf(" (retry after %s)", he.RetryAfter)
			}
			return &Error{Code: CodeRateLimited, Retryable: true, Message: msg, RetryAfter: he.RetryAfter}
		case s >= 500:
			return &Error{Code: CodeOther, Retryable: true, Message: he.Error(), RetryAfter: he.RetryAfter}
		}
		return &Error{Code: CodeOther, Message: he.Error()}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeOther, Message: err.Error()}
	}
	return &Error{Code: CodeOther, Retryable: true, Message: err.Error()}
}

// CheckAuth makes a GET request to path (any cheap call that needs the
// credentials) so that New reports rejected credentials against their
// setting when zonecert starts the plugin, not at the first challenge: a
// 401 or 403 becomes an InvalidSetting error for setting. A retryable
// answer (a 429, a 5xx, a refused connection) is tried again as NewREST's
// requests are, with RESTOptions' defaults, so a throttled start-up waits
// instead of failing.
func (c *JSONAPI) CheckAuth(ctx context.Context, path, setting string) error {
	opt := RESTOptions{Concurrency: 1}.withDefaults()
	_, err := retry(ctx, &rest{opt: opt, sem: make(chan struct{}, opt.Concurrency)}, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.Do(ctx, http.MethodGet, path, nil, nil)
	})
	if e := Classify(err); e != nil && e.Code == CodeAuth {
		return InvalidSetting(setting, "rejected by the API: %s", e.Message)
	} else if err != nil {
		return fmt.Errorf("checking credentials: %w", err)
	}
	return nil
}
