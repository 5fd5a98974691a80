package acme

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// BenchmarkPebbleBadNonceStorm runs whole orders (newOrder, dns-01,
// finalize, download) against real Pebble rejecting 50% of nonces, 500 per
// iteration with 25 in flight. It fails on the first failed order, so a
// finished run is 100% success; it reports the signed requests, the badNonce
// rejections and the longest run of consecutive rejections met by one
// request. Pebble slows down as it accumulates orders, so one iteration is
// the measurement. Run it with
//
//	go test -run '^$' -bench BadNonceStorm -benchtime 1x ./core/acme
func BenchmarkPebbleBadNonceStorm(b *testing.B) {
	const orders, inFlight = 500, 25
	d := startTestDNS(b)
	p := testenv.StartPebble(b, testenv.PebbleOptions{DNSServer: d.Addr, NonceReject: 50,
		RetryAfterAuthz: -1, RetryAfterOrder: -1})
	rt := &countingTransport{next: p.HTTPClient.Transport}
	h := &nonceStats{}
	c, err := New(Options{
		DirectoryURL: p.DirectoryURL, HTTPClient: &http.Client{Transport: rt, Timeout: 30 * time.Second},
		Version: "bench", Logger: slog.New(h), PollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		b.Fatal(err)
	}
	e := &env{pebble: p, dns: d, client: c}
	ctx := b.Context()
	acct, err := c.NewAccount(ctx, mustKey(b, KeyECDSAP256), NewAccountRequest{TermsOfServiceAgreed: true})
	if err != nil {
		b.Fatal(err)
	}
	rt.posts.Store(0)
	h.rejects.Store(0)
	var done atomic.Int64
	for b.Loop() {
		sem := make(chan struct{}, inFlight)
		errs := make(chan error, orders)
		var wg sync.WaitGroup
		for range orders {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := e.benchOrder(ctx, acct, randomDomain(b)); err != nil {
					errs <- err
					return
				}
				done.Add(1)
			})
		}
		wg.Wait()
		close(errs)
		if failed := drain(errs); len(failed) > 0 {
			b.Fatalf("%d of %d orders failed: %v", len(failed), orders, errors.Join(failed...))
		}
	}
	n := float64(done.Load())
	b.ReportMetric(n, "orders")
	b.ReportMetric(float64(rt.posts.Load())/n, "signed-requests/order")
	b.ReportMetric(float64(h.rejects.Load())/n, "badNonce/order")
	b.ReportMetric(float64(h.longest.Load()), "max-consecutive-badNonce")
	b.ReportMetric(b.Elapsed().Seconds()*1000/n, "ms/order")
}

func drain(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// benchOrder is one order for a fresh name, with its record removed after.
func (e *env) benchOrder(ctx context.Context, acct Account, domain string) error {
	ids := DNSIdentifiers(domain)
	o, err := e.client.NewOrder(ctx, acct, OrderRequest{Identifiers: ids})
	if err != nil {
		return fmt.Errorf("newOrder: %w", err)
	}
	for _, u := range o.Authorizations {
		a, err := e.client.GetAuthorization(ctx, acct, u)
		if err != nil {
			return fmt.Errorf("authorization: %w", err)
		}
		ch, ok := a.Challenge(ChallengeDNS01)
		if !ok {
			return fmt.Errorf("no dns-01 in %s", u)
		}
		ka, err := KeyAuthorization(acct.Key, ch.Token)
		if err != nil {
			return err
		}
		defer e.dns.add("_acme-challenge."+a.Identifier.Value, DNS01Value(ka))()
		if _, err := e.client.AcceptChallenge(ctx, acct, ch.URL); err != nil {
			return fmt.Errorf("challenge: %w", err)
		}
		if _, err := e.client.PollAuthorization(ctx, acct, u); err != nil {
			return fmt.Errorf("polling authorization: %w", err)
		}
	}
	if o, err = e.client.PollOrder(ctx, acct, o.URL); err != nil {
		return fmt.Errorf("polling order: %w", err)
	}
	key, err := GenerateKey(KeyECDSAP256)
	if err != nil {
		return err
	}
	csr, err := CreateCSR(key, ids)
	if err != nil {
		return err
	}
	if o, err = e.client.FinalizeOrder(ctx, acct, o, csr); err != nil {
		return fmt.Errorf("finalize: %w", err)
	}
	if _, err := e.client.GetCertificateChains(ctx, acct, o.Certificate); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	return nil
}

// countingTransport counts POSTs, which are all signed (§6.2).
type countingTransport struct {
	next  http.RoundTripper
	posts atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost {
		t.posts.Add(1)
	}
	return t.next.RoundTrip(r)
}

// nonceStats counts badNonce retries and keeps the highest attempt number
// one request reached.
type nonceStats struct {
	rejects, longest atomic.Int64
}

func (h *nonceStats) Enabled(context.Context, slog.Level) bool { return true }
func (h *nonceStats) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "acme: retrying after badNonce" {
		return nil
	}
	h.rejects.Add(1)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "attempt" {
			for n := a.Value.Int64(); ; {
				cur := h.longest.Load()
				if n <= cur || h.longest.CompareAndSwap(cur, n) {
					break
				}
			}
		}
		return true
	})
	return nil
}
func (h *nonceStats) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *nonceStats) WithGroup(string) slog.Handler      { return h }
