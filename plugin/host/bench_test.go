package host

import (
	"context"
	"fmt"
	"testing"

	"github.com/zonecert/zonecert/plugin"
)

// BenchmarkStart measures plugin start-up: describe, launch, handshake with
// mTLS, Configure and GetMetadata. Stopping the process is not timed.
func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		c, err := Start(ctx, Config{Name: testName, Path: testBin, LookupEnv: testEnv()})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.Close()
		b.StartTimer()
	}
}

// BenchmarkRoundTrip measures Present plus CleanUp through the boundary for
// batches of records; the test plugin stores nothing, so this is the cost of
// the protocol itself. ns/record is the per-record figure.
func BenchmarkRoundTrip(b *testing.B) {
	c := startTest(b, Config{})
	ctx := context.Background()
	for _, n := range []int{1, 100, 1000} {
		recs := make([]plugin.Record, n)
		for i := range recs {
			recs[i] = plugin.Record{
				ID: fmt.Sprint(i), FQDN: fmt.Sprintf("_acme-challenge.host%d.example.test.", i), Zone: "example.test.",
				Value: "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", TTL: 60,
			}
		}
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			for b.Loop() {
				res, err := c.Present(ctx, recs)
				if err != nil || len(res) != n {
					b.Fatalf("Present: %d results, %v", len(res), err)
				}
				for i := range recs {
					recs[i].State = res[i].State
				}
				if _, err := c.CleanUp(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}
