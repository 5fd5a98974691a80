package preflight_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/preflight"
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
