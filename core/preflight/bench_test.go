package preflight_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/preflight"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/internal/testenv"
)

// BenchmarkPreflight measures what the engine pays before newOrder, on
// real BIND: cold is one order's checks with an empty cache (one zone,
// signed: delegation, path, CAA, DNSSEC); storm is 200 certificates in 3
// zones through one Checker, 10 at a time, as a daemon's renewal storm.
func BenchmarkPreflight(b *testing.B) {
	w := startWorld(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, zone := range []string{"ex.test", "signed.test"} {
		b.Run("cold/"+zone, func(b *testing.B) {
			for b.Loop() {
				if err := w.checker().Preflight(ctx, preflight.Target{Domains: []string{"www." + zone}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("storm-200-certs-3-zones", func(b *testing.B) {
		zones := []string{"ex.test", "acme.test", "signed.test"}
		for b.Loop() {
			c := w.checker()
			var wg sync.WaitGroup
			sem := make(chan struct{}, 10)
			for i := range 200 {
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					t := preflight.Target{Domains: []string{fmt.Sprintf("h%d.%s", i, zones[i%3])}}
					if err := c.Preflight(ctx, t); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
		}
	})
}

// BenchmarkEngineOverhead is one order's cost with and without the
// preflight (a fresh Checker each time: nothing cached), in the same run:
// account, newOrder and authorizations against Pebble, then the provider
// refuses the record, so the order ends there.
func BenchmarkEngineOverhead(b *testing.B) {
	w := startWorld(b)
	pebble := testenv.StartPebble(b, testenv.PebbleOptions{DNSServer: w.C.String() + ":53", RetryAfterAuthz: -1, RetryAfterOrder: -1})
	store, err := storage.NewFS(filepath.Join(b.TempDir(), "state"))
	if err != nil {
		b.Fatal(err)
	}
	for _, withPreflight := range []bool{false, true} {
		b.Run(fmt.Sprintf("preflight=%v", withPreflight), func(b *testing.B) {
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				cfg := core.Config{Storage: store, Provider: &refusingProvider{}, HTTPClient: pebble.HTTPClient}
				if withPreflight {
					cfg.Preflight = w.checker()
				}
				eng, err := core.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				_, err = eng.Obtain(ctx, core.Request{Domains: []string{"direct.ex.test"}, DirectoryURL: pebble.DirectoryURL,
					AgreeTOS: true, Challenge: "dns-01", Resolvers: w.Resolvers})
				cancel()
				if _, ok := errors.AsType[preflight.Problems](err); ok || err == nil {
					b.Fatalf("want the provider's refusal, got %v", err)
				}
			}
		})
	}
}
