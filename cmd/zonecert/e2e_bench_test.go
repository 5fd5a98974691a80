package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// BenchmarkObtainLaggingSecondary measures `zonecert obtain` for a wildcard
// plus apex through RFC 2136 when the zone's secondary serves changes a known
// lag after the primary. zonecert must wait for both, so the floor is the
// lag; the design's goal is to finish within a fraction of a second of it.
// Reported: wall/lag (the ratio), the peak RSS (VmHWM) of zonecert and of
// the plugin process.
func BenchmarkObtainLaggingSecondary(b *testing.B) {
	const lag = 2 * time.Second
	l := startLaggingBench(b, lag)
	args := append([]string{"obtain", "--agree-tos", "--dns", "rfc2136"}, l.args...)
	bin, env := l.bin, l.env

	var wall time.Duration
	var zcPeak, pluginPeak int64
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		cmd := exec.Command(filepath.Join(bin, "zonecert"), args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		peaks := map[int]int64{}
		tick := time.NewTicker(20 * time.Millisecond)
	watch:
		for {
			select {
			case err := <-done:
				if err != nil {
					b.Fatalf("zonecert: %v\n%s", err, stderr.String())
				}
				break watch
			case <-tick.C:
				for _, pid := range append([]int{cmd.Process.Pid}, childPIDs(cmd.Process.Pid)...) {
					peaks[pid] = max(peaks[pid], vmHWM(pid))
				}
			}
		}
		tick.Stop()
		wall += time.Since(start)
		for pid, kib := range peaks {
			if pid == cmd.Process.Pid {
				zcPeak = max(zcPeak, kib)
			} else {
				pluginPeak = max(pluginPeak, kib)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(wall)/float64(b.N)/float64(lag), "wall/lag")
	b.ReportMetric(float64(zcPeak)/1024, "zonecert-peak-MiB")
	b.ReportMetric(float64(pluginPeak)/1024, "plugin-peak-MiB")
}

// childPIDs lists the children of pid from /proc (Linux).
func childPIDs(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// vmHWM is the peak resident set size of pid in KiB, 0 when unknown.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// laggingBench is a BIND primary with a secondary lagging a known interval,
// and a Pebble resolving through it: the set-up of the benchmarks that
// compare a run's wall time with that lag.
type laggingBench struct {
	bin  string // the built binaries
	bind *testenv.BIND
	env  []string // with the rfc2136 plugin's settings
	args []string // CA, plugin dir, resolver, state path, *.example.test and example.test
}

func startLaggingBench(b *testing.B, lag time.Duration) laggingBench {
	if testing.Short() {
		b.Skip("needs BIND9, Pebble and root")
	}
	bin := binaries(b)
	bind := testenv.StartBIND(b, testenv.BINDConfig{
		Zones:     []testenv.Zone{{Name: "example.test"}},
		Secondary: true, SecondaryLag: lag,
	})
	primary := bind.Primary.String() + ":53"
	pebble := testenv.StartPebble(b, testenv.PebbleOptions{DNSServer: chasingResolver(b, primary), NonceReject: -1, RetryAfterAuthz: -1, RetryAfterOrder: -1})
	dir := b.TempDir()
	bundle := filepath.Join(dir, "pebble-tls.pem")
	if err := os.WriteFile(bundle, pebble.CABundlePEM, 0o600); err != nil {
		b.Fatal(err)
	}
	env := baseEnv(dir,
		"RFC2136_NAMESERVER="+primary, "RFC2136_TSIG_KEY="+bind.TSIGKey,
		"RFC2136_TSIG_SECRET="+bind.TSIGSecret, "RFC2136_TSIG_ALGORITHM="+bind.TSIGAlgorithm)
	return laggingBench{bin: bin, bind: bind, env: env, args: []string{"--server", pebble.DirectoryURL, "--ca-bundle", bundle,
		"--plugin-dir", bin, "--dns-resolver", bind.Primary.String(), "--path", filepath.Join(dir, "state"),
		"-d", "*.example.test", "-d", "example.test"}}
}
