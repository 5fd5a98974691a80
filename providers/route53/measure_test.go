package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/fakeroute53"
	"github.com/zonecert/zonecert/plugin"
)

// orderShapes are the measured orders: the records one order presents.
var orderShapes = []struct {
	name    string
	records func() []plugin.Record
	filler  int // unrelated record sets already in the zone
	want    int // API calls per Present+WaitForSync+CleanUp
}{
	{"1-name", func() []plugin.Record { return []plugin.Record{rec("1", name, zone, "v1")} }, 0, 6},
	{"wildcard+apex", func() []plugin.Record {
		return []plugin.Record{rec("1", name, zone, "wildcard"), rec("2", name, zone, "apex")}
	}, 0, 6},
	{"50-names", func() []plugin.Record { return manyNames(50) }, 0, 7},
	// In a big zone, reading the whole zone costs more pages than
	// reading each name: 2,000 sets are 7 pages of 300, still < 50.
	{"50-names-in-2000-set-zone", func() []plugin.Record { return manyNames(50) }, 2000, 19},
}

func manyNames(n int) []plugin.Record {
	out := make([]plugin.Record, n)
	for i := range out {
		out[i] = rec(fmt.Sprint(i), fmt.Sprintf("_acme-challenge.host%d.example.test.", i), zone, fmt.Sprintf("value-%d", i))
	}
	return out
}

// order runs one order's provider calls and returns the API calls made.
func order(tb testing.TB, f *fakeroute53.Server, p *provider, recs []plugin.Record) map[string]int {
	f.ResetCalls()
	res, err := p.Present(tb.Context(), recs)
	recs = mustOK(tb, recs, res, err)
	ctx, cancel := context.WithTimeout(tb.Context(), 10*time.Second)
	defer cancel()
	if err := p.WaitForSync(ctx, recs); err != nil {
		tb.Fatal(err)
	}
	res, err = p.CleanUp(tb.Context(), recs)
	mustOK(tb, recs, res, err)
	return f.Calls()
}

func setupShape(tb testing.TB, filler int) (*fakeroute53.Server, *provider) {
	// One GetChange poll per change: the real count depends on how long
	// Route 53 takes to sync (one poll per 250 ms to 2 s while it does).
	f := fakeroute53.New(tb, fakeroute53.Options{SyncAfterPolls: 1})
	id := f.AddZone(zone, false)
	for i := range filler {
		if err := f.PutRRSet(id, fmt.Sprintf("filler%d.example.test.", i), "A", 300, "192.0.2.1"); err != nil {
			tb.Fatal(err)
		}
	}
	return f, goodProvider(tb, f, Settings{})
}

// TestAPICallsPerOrder measures (and pins) the Route 53 API calls of one
// order: one change batch per zone per call, reads batched per zone.
func TestAPICallsPerOrder(t *testing.T) {
	t.Parallel()
	for _, shape := range orderShapes {
		t.Run(shape.name, func(t *testing.T) {
			t.Parallel()
			f, p := setupShape(t, shape.filler)
			calls := order(t, f, p, shape.records())
			t.Logf("%s: %s", shape.name, callsString(calls))
			total := 0
			for _, n := range calls {
				total += n
			}
			if total != shape.want || calls[fakeroute53.OpChangeResourceRecordSets] != 2 {
				t.Errorf("%s: %d calls (%s); want %d with 2 change batches", shape.name, total, callsString(calls), shape.want)
			}
		})
	}
}

// BenchmarkOrder reports API calls per order (calls/op) alongside time.
//
//	go test -run '^$' -bench Order ./providers/route53/
func BenchmarkOrder(b *testing.B) {
	for _, shape := range orderShapes {
		b.Run(shape.name, func(b *testing.B) {
			f, p := setupShape(b, shape.filler)
			total, byOp := 0, map[string]int{}
			for b.Loop() {
				for op, n := range order(b, f, p, shape.records()) {
					total += n
					byOp[op] += n
				}
			}
			b.ReportMetric(float64(total)/float64(b.N), "calls/op")
			for op, n := range byOp {
				b.ReportMetric(float64(n)/float64(b.N), op+"/op")
			}
		})
	}
}
