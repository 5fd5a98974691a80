package acme

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Media types of RFC 8555 §6.2, §7.4.2 and RFC 9457.
const (
	contentTypeJOSE    = "application/jose+json"
	contentTypeJSON    = "application/json"
	contentTypeProblem = "application/problem+json"
	contentTypePEM     = "application/pem-certificate-chain"
)

// ErrBodyTooLarge is returned when a response exceeds Options.MaxResponseBytes.
var ErrBodyTooLarge = errors.New("acme: response body too large")

// response is one HTTP answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
	url    string
	at     time.Time // when it arrived, on the Client's clock
}

func (r *response) location() string { return r.header.Get("Location") }

func (r *response) mediaType() string {
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	return mt
}

// retryAfter parses Retry-After (RFC 9110 §10.2.3): delay-seconds or an
// HTTP-date. Zero means absent or unparsable.
func (r *response) retryAfter() time.Duration {
	return parseRetryAfter(r.header.Get("Retry-After"), r.at)
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// links returns the targets of Link headers (RFC 8288) with the given rel.
func (r *response) links(rel string) []string {
	var out []string
	for _, h := range r.header.Values("Link") {
		for _, l := range splitLinks(h) {
			target, params, ok := strings.Cut(l, ";")
			if !ok {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			// A URI reference never contains angle brackets (RFC 3986).
			target = target[1 : len(target)-1]
			if strings.ContainsAny(target, "<>") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "rel") {
					for _, rv := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
						if rv == rel {
							out = append(out, target)
						}
					}
				}
			}
		}
	}
	return out
}

// splitLinks splits a Link header at commas outside <...>.
func splitLinks(h string) []string {
	var out []string
	depth, start := 0, 0
	for i, ch := range h {
		switch ch {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, h[start:i])
				start = i + 1
			}
		}
	}
	return append(out, h[start:])
}

// send performs one HTTP exchange, reads the body within the size limit and
// pools any Replay-Nonce.
func (c *Client) send(ctx context.Context, method, url string, body []byte, accept string) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, fmt.Errorf("acme: %s %s: %w", method, url, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", contentTypeJOSE)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("acme: %s %s: %w", method, url, err)
	}
	defer res.Body.Close()
	if n := res.Header.Get("Replay-Nonce"); n != "" {
		c.nonces.push(n)
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("acme: %s %s: reading body: %w", method, url, err)
	}
	if int64(len(b)) > c.maxBody {
		return nil, fmt.Errorf("%w: %s %s sent more than %d bytes", ErrBodyTooLarge, method, url, c.maxBody)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b, url: url, at: c.now()}, nil
}

// errorFrom turns an HTTP error answer into a *Problem when it carries a
// problem document, else into an *HTTPError.
func errorFrom(method string, r *response) error {
	ra := r.retryAfter()
	mt := r.mediaType()
	if mt == contentTypeProblem || mt == contentTypeJSON {
		if p, err := decodeProblem(r.body); err == nil {
			if p.Status == 0 {
				p.Status = r.status
			}
			p.RetryAfter = ra
			p.URL = r.url
			return p
		}
	}
	snippet := strings.ToValidUTF8(string(r.body[:min(len(r.body), 256)]), "?")
	snippet = strings.Join(strings.Fields(snippet), " ")
	return &HTTPError{Method: method, URL: r.url, StatusCode: r.status,
		ContentType: r.header.Get("Content-Type"), Body: snippet, RetryAfter: ra}
}

// transient reports whether a transport error is worth retrying: a reset or
// a connection closed mid-answer.
func transient(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNREFUSED)
}

// retryDelay decides whether attempt n (0-based) of a read may be retried
// after resp/err, and how long to wait first.
func (c *Client) retryDelay(ctx context.Context, n int, resp *response, err error) (time.Duration, bool) {
	if n >= c.maxRetries || ctx.Err() != nil {
		return 0, false
	}
	if err != nil {
		return c.backoff(c.retryBackoff, n), transient(err)
	}
	tooMany := resp.status == http.StatusTooManyRequests
	if resp.status < 500 && !tooMany {
		return 0, false
	}
	if ra := resp.retryAfter(); ra > 0 {
		// A Retry-After beyond our patience goes back to the caller.
		return ra, ra <= c.maxBackoff
	}
	// A 429 without Retry-After gives no safe delay: leave it to the caller.
	return c.backoff(c.retryBackoff, n), !tooMany
}

// get sends an unauthenticated GET or HEAD, retried on 5xx and resets. An
// HTTP error answer comes back as *Problem or *HTTPError.
func (c *Client) get(ctx context.Context, method, url, accept string) (*response, error) {
	ctx, cancel := c.requestContext(ctx)
	defer cancel()
	for n := 0; ; n++ {
		resp, err := c.send(ctx, method, url, nil, accept)
		if err == nil && resp.status < 400 {
			return resp, nil
		}
		d, ok := c.retryDelay(ctx, n, resp, err)
		if !ok {
			if err != nil {
				return nil, err
			}
			return nil, errorFrom(method, resp)
		}
		c.logRetry(ctx, method, url, d, n+1, resp, err)
		if err := wait(ctx, d); err != nil {
			return nil, err
		}
	}
}

// post sends a signed request (§6.2). A badNonce rejection is signed again
// with a fresh nonce and resent (§6.5) until the request's deadline: the
// server refused the request without acting on it, and at a CA that rejects
// half the nonces any fixed bound fails a busy client sooner or later. When
// read is set (POST-as-GET, §6.3) the request is also retried on 5xx answers
// and connection resets, since reading changes nothing on the server.
func (c *Client) post(ctx context.Context, k signingKey, url string, payload []byte, read bool, accept string) (*response, error) {
	ctx, cancel := c.requestContext(ctx)
	defer cancel()
	badNonces, n := 0, 0
	var lastBadNonce error
	// The deadline may fall while a nonce is fetched or a retry is in
	// flight: the caller still learns that the CA kept rejecting nonces.
	ended := func(err error) error {
		if lastBadNonce == nil || ctx.Err() == nil {
			return err
		}
		return fmt.Errorf("acme: %d badNonce rejections before the deadline (%w): %w", badNonces, ctx.Err(), lastBadNonce)
	}
	for {
		nonce, err := c.nonce(ctx)
		if err != nil {
			return nil, ended(err)
		}
		body, err := signJWS(k, url, nonce, payload)
		if err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, http.MethodPost, url, body, accept)
		if err == nil && resp.status < 400 {
			return resp, nil
		}
		if err == nil {
			perr := errorFrom(http.MethodPost, resp)
			if IsProblem(perr, ProblemBadNonce) {
				badNonces++
				lastBadNonce = perr
				d := c.badNonceDelay(badNonces)
				c.log.LogAttrs(ctx, slog.LevelDebug, "acme: retrying after badNonce",
					slog.String("url", url), slog.Int("attempt", badNonces), slog.Duration("delay", d))
				if err := wait(ctx, d); err != nil {
					return nil, ended(err)
				}
				continue
			}
			if !read {
				return nil, perr
			}
		}
		if !read {
			return nil, ended(err)
		}
		d, ok := c.retryDelay(ctx, n, resp, err)
		if !ok {
			if err != nil {
				return nil, err
			}
			return nil, errorFrom(http.MethodPost, resp)
		}
		n++
		c.logRetry(ctx, "POST-as-GET", url, d, n, resp, err)
		if err := wait(ctx, d); err != nil {
			return nil, err
		}
	}
}

// maxBadNonceDelay caps the wait between late badNonce retries: a nonce
// rejection is cheap and says nothing about load, so a long wait gains
// nothing, but a CA that rejects every nonce must not be flooded.
const maxBadNonceDelay = time.Second

// badNonceDelay is the wait before resending after the n-th (1-based)
// consecutive badNonce: none for the first BadNonceRetries, then growing
// from RetryBackoff to maxBadNonceDelay.
func (c *Client) badNonceDelay(n int) time.Duration {
	if n <= c.badNonceRetries {
		return 0
	}
	return min(c.backoff(c.retryBackoff, n-c.badNonceRetries-1), maxBadNonceDelay)
}

// postJSON posts and checks that the answer is JSON (§7: resources are
// application/json).
func (c *Client) postJSON(ctx context.Context, k signingKey, url string, payload []byte, read bool) (*response, error) {
	resp, err := c.post(ctx, k, url, payload, read, contentTypeJSON)
	if err != nil {
		return nil, err
	}
	if mt := resp.mediaType(); mt != contentTypeJSON {
		return nil, fmt.Errorf("acme: POST %s: content type %q, want %s", url, resp.header.Get("Content-Type"), contentTypeJSON)
	}
	return resp, nil
}

// logRetry reports a request that will be sent again because the CA did
// not answer, or answered with a server error: at INFO, since a CA that
// stays away is what the user waits on, with when the next attempt goes.
func (c *Client) logRetry(ctx context.Context, method, url string, d time.Duration, attempt int, resp *response, err error) {
	why := "no answer"
	if err != nil {
		why = err.Error()
	} else if resp != nil {
		why = fmt.Sprintf("HTTP %d", resp.status)
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "the CA did not answer; retrying",
		slog.String("method", method), slog.String("url", url), slog.String("reason", why),
		slog.Int("attempt", attempt), slog.Time("next_attempt", c.now().Add(d)))
}
