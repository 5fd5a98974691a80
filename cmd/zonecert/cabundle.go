package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/storage"
)

// caBundlePath is the CA bundle a command was given: --ca-bundle (made
// absolute with the other path flags), else $ZONECERT_CA_BUNDLE, made
// absolute here, since renewal plans record it.
func caBundlePath(e env, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	p := e.getenv("ZONECERT_CA_BUNDLE")
	if p == "" {
		return "", nil
	}
	return filepath.Abs(p)
}

// lineageHTTPClient is the client of renew and revoke, which act on
// stored lineages. A bundle given on the command line trusts every CA
// through it, as obtain does. Without one, each lineage's CA is trusted
// through the bundle its plan recorded, chosen by the CA's host, so a
// renew from cron needs no flag that obtain had. A recorded bundle that
// cannot be read fails the requests to its CA, not the whole run.
func lineageHTTPClient(ctx context.Context, store storage.Storage, names []string, bundle string) (*http.Client, error) {
	base, err := httpClient(bundle)
	if err != nil || bundle != "" {
		return base, err
	}
	if len(names) == 0 {
		if names, err = core.Lineages(ctx, store); err != nil {
			return nil, err
		}
	}
	byHost := map[string]http.RoundTripper{}
	for _, n := range names {
		p, err := core.LoadPlan(ctx, store, n)
		if err != nil || p.CABundle == "" {
			continue // renew reports a bad plan as that lineage's error
		}
		u, err := url.Parse(p.Directory)
		if err != nil || byHost[u.Host] != nil {
			continue
		}
		c, err := httpClient(p.CABundle)
		if err != nil {
			byHost[u.Host] = failingTransport{fmt.Errorf("renewal plan %s: ca_bundle: %w", n, err)}
			continue
		}
		byHost[u.Host] = c.Transport
	}
	if len(byHost) == 0 {
		return base, nil
	}
	c := *base
	c.Transport = hostTransport{byHost: byHost, other: base.Transport}
	return &c, nil
}

// hostTransport sends each request through its host's transport.
type hostTransport struct {
	byHost map[string]http.RoundTripper
	other  http.RoundTripper
}

func (t hostTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if rt, ok := t.byHost[r.URL.Host]; ok {
		return rt.RoundTrip(r)
	}
	return t.other.RoundTrip(r)
}

type failingTransport struct{ err error }

func (t failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return nil, t.err
}
