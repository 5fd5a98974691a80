package dns01

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
)

// benchLag is the secondary's configured lag in the benchmarks. It is not
// a multiple of the 250 ms poll period, which would flatter the figures by
// aligning the secondary's refresh with a poll.
const benchLag = 1130 * time.Millisecond

// BenchmarkPropagation measures the authoritative wait against a real
// BIND primary and a secondary lagging by benchLag:
//   - ms-over-lag: time from Present returning to every address confirmed,
//     minus the lag (the goal is under 500);
//   - queries/record: DNS messages the wait sent per record, over both
//     name server addresses.
//
// Run: go test -run '^$' -bench Propagation -benchtime 5x ./core/dns01/
func BenchmarkPropagation(b *testing.B) {
	env := testenv.StartBIND(b, testenv.BINDConfig{
		Zones:        []testenv.Zone{{Name: "bench1.test"}, {Name: "bench100.test"}},
		Secondary:    true,
		SecondaryLag: benchLag,
	})
	for _, tc := range []struct {
		zone  string
		names int
	}{{"bench1.test", 1}, {"bench100.test", 100}} {
		outer := b
		b.Run(fmt.Sprintf("names=%d", tc.names), func(b *testing.B) {
			var presented time.Time
			early := 0
			p := &updateProvider{bind: env, afterPresent: func(recs []plugin.Record) {
				presented = time.Now()
				// The lag must hold, or the figures below mean nothing.
				if got, err := env.TXT(context.Background(), env.Secondary, recs[0].FQDN); err != nil || len(got) > 0 {
					early++
				}
			}}
			s := mustSolver(b, testConfig(env), p, &MemJournal{})
			// Clean up only after every run: a removal reaches the
			// secondary through the same delayed NOTIFY and would cut
			// a later run's lag short.
			var batches []*Batch
			outer.Cleanup(func() {
				for _, batch := range batches {
					_ = s.CleanUp(context.Background(), batch)
				}
			})
			var over time.Duration
			var queries, records uint64
			iter := 0
			run := newID()[:8] // -count reruns this function on the same servers
			for b.Loop() {
				b.StopTimer()
				var chs []Challenge
				for i := range tc.names {
					chs = append(chs, Challenge{Identifier: fmt.Sprintf("r%s-i%d-n%d.%s", run, iter, i, tc.zone), Value: txtValue(fmt.Sprint(run, iter, i))})
				}
				iter++
				batch, err := s.Prepare(b.Context(), chs)
				if err != nil {
					b.Fatal(err)
				}
				batches = append(batches, batch)
				before := s.QueryCount()
				b.StartTimer()
				if err := s.Publish(b.Context(), batch, time.Time{}); err != nil {
					b.Fatal(err)
				}
				over += time.Since(presented) - benchLag
				queries += s.QueryCount() - before
				records += uint64(tc.names)
			}
			if early > 0 {
				b.Fatalf("the secondary had %d of %d batches when Present returned; the lag did not hold", early, iter)
			}
			b.ReportMetric(float64(over.Milliseconds())/float64(iter), "ms-over-lag")
			b.ReportMetric(float64(queries)/float64(records), "queries/record")
		})
	}
}
