package acme

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Options configure a [Client]. Only DirectoryURL is required.
type Options struct {
	// DirectoryURL is the CA's directory (RFC 8555 §7.1.1), https only
	// unless AllowInsecureHTTP is set.
	DirectoryURL string
	// HTTPClient sends every request. Nil means a client with a 30 s
	// timeout and the system roots. Set its Transport's TLS config to trust a
	// private CA.
	HTTPClient *http.Client
	// Version is zonecert's version; requests carry User-Agent
	// "zonecert/<Version>" (RFC 8555 §6.1). Empty means "dev".
	Version string
	// Logger receives debug records about retries. Nil discards them.
	Logger *slog.Logger
	// MaxResponseBytes caps every response body. Zero means 4 MiB.
	MaxResponseBytes int64
	// MaxRetries bounds retries of GET and POST-as-GET requests after 5xx
	// answers or connection resets. Zero means 4; negative disables retries.
	MaxRetries int
	// BadNonceRetries is how often one request is signed again at once
	// after a badNonce rejection (§6.5). Later rejections are retried too,
	// each with a fresh nonce, until the request's deadline, but after a
	// delay growing from RetryBackoff to one second, so a CA that rejects
	// every nonce is not flooded. Zero means 10.
	BadNonceRetries int
	// RequestTimeout bounds one request with all its retries when the
	// caller's context has no earlier deadline, so every retry loop ends.
	// Zero means 2 minutes.
	RequestTimeout time.Duration
	// RetryBackoff is the first delay between retries, doubled each time up
	// to MaxBackoff. Zero means 500 ms.
	RetryBackoff time.Duration
	// PollInterval is the first delay between polls of an order or
	// authorization when the CA sends no Retry-After, doubled each time up
	// to MaxBackoff. Zero means 1 s.
	PollInterval time.Duration
	// MaxBackoff caps retry and poll delays, and also any Retry-After the
	// client is willing to wait on by itself during a poll or retry. Zero
	// means 30 s.
	MaxBackoff time.Duration
	// NewOrderConcurrency bounds the newOrder requests in flight through
	// this Client. While any is in flight, the Client sends no
	// authorization request, and the other way round: Pebble deadlocks
	// when the two meet under load (see orderGate). Zero means 1; a
	// negative value lifts both rules.
	NewOrderConcurrency int
	// GateWaited, when set, is told each time a newOrder (newOrder true)
	// or an authorization request had to wait for the rules above, and how
	// long: the cost of the bound, for metrics.
	GateWaited func(newOrder bool, waited time.Duration)
	// AllowInsecureHTTP permits an http:// directory, for tests only.
	AllowInsecureHTTP bool
	// Now is the clock (Retry-After dates are read against it); nil means
	// time.Now.
	Now func() time.Time
}

// Client speaks ACME to one CA. It is safe for concurrent use by many
// orders and many accounts: it holds the directory and a nonce pool, never an
// account.
type Client struct {
	dirURL          string
	http            *http.Client
	userAgent       string
	log             *slog.Logger
	maxBody         int64
	maxRetries      int
	badNonceRetries int
	requestTimeout  time.Duration
	retryBackoff    time.Duration
	pollInterval    time.Duration
	maxBackoff      time.Duration
	now             func() time.Time

	nonces noncePool
	gate   orderGate

	mu  sync.Mutex
	dir *Directory
}

// New validates opts and returns a Client. It does no I/O; the directory is
// fetched on first use.
func New(opts Options) (*Client, error) {
	if opts.DirectoryURL == "" {
		return nil, errors.New("acme: directory URL is required")
	}
	u, err := url.Parse(opts.DirectoryURL)
	if err != nil {
		return nil, fmt.Errorf("acme: parsing directory URL: %w", err)
	}
	if u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && opts.AllowInsecureHTTP)) {
		return nil, fmt.Errorf("acme: directory URL %q must be an absolute https URL", opts.DirectoryURL)
	}
	c := &Client{
		dirURL:          opts.DirectoryURL,
		http:            opts.HTTPClient,
		userAgent:       "zonecert/" + opts.Version,
		log:             opts.Logger,
		maxBody:         opts.MaxResponseBytes,
		maxRetries:      opts.MaxRetries,
		badNonceRetries: opts.BadNonceRetries,
		requestTimeout:  opts.RequestTimeout,
		retryBackoff:    opts.RetryBackoff,
		pollInterval:    opts.PollInterval,
		maxBackoff:      opts.MaxBackoff,
		now:             opts.Now,
		nonces:          noncePool{max: 128},
		gate:            orderGate{limit: opts.NewOrderConcurrency, waited: opts.GateWaited},
	}
	if opts.NewOrderConcurrency == 0 {
		c.gate.limit = 1
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.gate.now = c.now
	if opts.Version == "" {
		c.userAgent = "zonecert/dev"
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.maxBody <= 0 {
		c.maxBody = 4 << 20
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = 4
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.badNonceRetries <= 0 {
		c.badNonceRetries = 10
	}
	if c.requestTimeout <= 0 {
		c.requestTimeout = 2 * time.Minute
	}
	if c.retryBackoff <= 0 {
		c.retryBackoff = 500 * time.Millisecond
	}
	if c.pollInterval <= 0 {
		c.pollInterval = time.Second
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = 30 * time.Second
	}
	return c, nil
}

// DirectoryURL returns the directory URL the client was created with.
func (c *Client) DirectoryURL() string { return c.dirURL }

// requestContext bounds one request with its retries by RequestTimeout; a
// nearer deadline of the caller wins.
func (c *Client) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.requestTimeout)
}

// wait blocks for d or until ctx is done.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// backoff returns the delay before attempt n (0-based): base·2ⁿ capped at
// the client's MaxBackoff.
func (c *Client) backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < c.maxBackoff; i++ {
		d *= 2
	}
	return min(d, c.maxBackoff)
}
