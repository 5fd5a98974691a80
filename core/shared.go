package core

import (
	"github.com/zonecert/zonecert/core/acme"
)

// NewACMEClient builds the ACME client the engine uses for the CA at
// dirURL. A long-lived caller (the daemon) builds one per CA and passes it
// as Config.ACME, so every order shares its nonce pool, its directory and
// its connections (HTTP/2 where the CA offers it), and so that its bound
// on newOrder requests in flight holds across all of them.
func NewACMEClient(cfg Config, dirURL string) (*acme.Client, error) {
	return acme.New(ACMEOptions(cfg, dirURL))
}

// ACMEOptions are the options NewACMEClient uses, for a caller that sets
// more of them (the daemon: the newOrder bound and its metrics).
func ACMEOptions(cfg Config, dirURL string) acme.Options {
	return acme.Options{
		DirectoryURL: dirURL, HTTPClient: cfg.HTTPClient, Version: Version,
		Logger: cfg.Logger, AllowInsecureHTTP: cfg.AllowInsecureHTTP, Now: cfg.Now,
		// Validation usually ends within a second or two once the records
		// are everywhere: poll briskly and back off (Retry-After wins).
		PollInterval: pollInterval,
		// One client serves many orders: at a CA that rejects half of
		// all nonces (Pebble's default), 10 retries fail one request in
		// two thousand, which a storm of orders meets.
		BadNonceRetries: 25,
	}
}

// acmeClient is the shared client when it serves dirURL, else a new one.
func (e *Engine) acmeClient(dirURL string) (*acme.Client, error) {
	if e.acme != nil && e.acme.DirectoryURL() == dirURL {
		return e.acme, nil
	}
	return NewACMEClient(Config{HTTPClient: e.http, Logger: e.log, Now: e.now, AllowInsecureHTTP: e.allowHTTP}, dirURL)
}
