package main

import (
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// BenchmarkTimeToCertificateByMethod measures `zonecert obtain` for a
// wildcard plus apex with each validation method when the zone's secondary
// lags the primary by 2 s. dns-01 publishes and must wait for the
// secondary; dns-persist-01 reads a standing record (set up once, outside
// the timer) and changes nothing, so the lag does not count.
func BenchmarkTimeToCertificateByMethod(b *testing.B) {
	const lag = 2 * time.Second
	l := startLaggingBench(b, lag)
	bin, env, common, bind := l.bin, l.env, l.args, l.bind
	obtain := append([]string{"obtain", "--agree-tos"}, common...)

	// The account, then the standing record, once.
	if r := zonecert(b.Context(), b, bin, env, append(obtain, "--dns", "rfc2136", "--challenge", "dns-01")...); r.code != 0 {
		b.Fatalf("first obtain: exit %d\n%s", r.code, r.stderr)
	}
	if r := zonecert(b.Context(), b, bin, env, append([]string{"persist", "setup", "--dns", "rfc2136"}, common...)...); r.code != 0 {
		b.Fatalf("persist setup: exit %d\n%s", r.code, r.stderr)
	}

	for _, m := range []struct {
		name string
		args []string
	}{
		{"dns-01", append(obtain, "--dns", "rfc2136", "--challenge", "dns-01")},
		{"dns-persist-01", append(obtain, "--challenge", "dns-persist-01")},
	} {
		b.Run(m.name, func(b *testing.B) {
			var wall time.Duration
			for range b.N {
				// A NOTIFY still held back from the last run's cleanup
				// would carry this run's record to the secondary early.
				settle(b, bind)
				start := time.Now()
				if r := zonecert(b.Context(), b, bin, env, m.args...); r.code != 0 {
					b.Fatalf("exit %d\n%s", r.code, r.stderr)
				}
				wall += time.Since(start)
			}
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "ms/cert")
			b.ReportMetric(float64(wall)/float64(b.N)/float64(lag), "wall/lag")
		})
	}
}

// settle waits until the secondary has the primary's serial of
// example.test, so that no change is in flight.
func settle(b *testing.B, bind *testenv.BIND) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		p, err1 := bind.Serial(b.Context(), bind.Primary, "example.test")
		s, err2 := bind.Serial(b.Context(), bind.Secondary, "example.test")
		if err1 == nil && err2 == nil && p == s {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			b.Fatalf("the secondary did not catch up: serials %d and %d (%v, %v)", p, s, err1, err2)
		}
	}
}
