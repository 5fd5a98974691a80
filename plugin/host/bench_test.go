package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
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

// BenchmarkVerify measures what verification adds to every plugin start:
// open a 30 MB binary, hash it, compare with its pin (page cache warm, as
// on a host that ran the plugin before). sighup-20 is a reload of a
// configuration with 20 instances whose binaries all differ (instances of
// one binary share a single describe, so this is the worst case).
func BenchmarkVerify(b *testing.B) {
	path := filepath.Join(b.TempDir(), BinaryPrefix+"big")
	data := make([]byte, 30<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, data, 0o700); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	pin := Pin{SHA256: hex.EncodeToString(sum[:])}
	verify := func() {
		bin, err := verifyBinary("big", path, pin)
		if err != nil {
			b.Fatal(err)
		}
		bin.Close()
	}
	b.Run("start", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			verify()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/start")
	})
	b.Run("sighup-20", func(b *testing.B) {
		for b.Loop() {
			for range 20 {
				verify()
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/sighup")
	})
}
