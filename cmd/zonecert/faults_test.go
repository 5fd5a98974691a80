package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/faultproxy"
	"github.com/zonecert/zonecert/internal/testenv"
)

// laggingZone is a zone served by a primary and a secondary that gets each
// change 3 s later: long enough for runs to overlap in the wait.
var laggingZone = testenv.BINDConfig{
	Zones:     []testenv.Zone{{Name: "example.test"}},
	Secondary: true, SecondaryLag: 3 * time.Second,
}

// SIGKILL of zonecert at every stage: the next run completes the order,
// and nothing is left behind.
func TestFaultKillAtEveryStage(t *testing.T) {
	faultCase(t, true)
	e := startE2E(t, laggingZone)
	cases := []struct {
		name  string
		match func(string) bool
		fast  bool
	}{
		{"after Present", stageLine("propagating"), false},
		{"during the wait", stageLine("propagating", "ready=1 total=2"), true},
		{"during validation", stageLine("validating"), false},
		{"during finalize", stageLine("finalizing"), false},
		{"during the store", stageLine("issued"), false},
		{"during cleanup", stageLine("cleaning-up"), false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			faultCase(t, tc.fast)
			t.Parallel()
			ctx := t.Context()
			home := t.TempDir()
			state := filepath.Join(home, "state")
			plug := copyPlugin(t, filepath.Join(e.bin, "zonecert-dns-rfc2136"))
			name := fmt.Sprintf("kill%d.example.test", i)
			args := e.obtainArgs(state, "--verbose", "--plugin-path", plug, "-d", name)
			killed, log := runKilled(ctx, t, e.bin, e.rfc2136Env(home), tc.match, args...)
			if !killed {
				t.Fatalf("zonecert never reached the stage:\n%s", log)
			}
			noPluginLeft(t, plug)
			r := zonecert(ctx, t, e.bin, e.rfc2136Env(home), args...)
			if r.code != 0 {
				t.Fatalf("the run after the kill: exit %d\n%s", r.code, r.stderr)
			}
			verifyChain(ctx, t, e.pebble, filepath.Join(state, "live", name, "fullchain.pem"), []string{name})
			e.nothingLeft(ctx, t, state, "_acme-challenge."+name+".")
			noPluginLeft(t, plug)
		})
	}
}

// Overlapping runs on one state directory (issue 10, defect 1): each
// run's start-up recovery leaves the records of the others alone. The
// first run is in its propagation wait (the secondary lags) when the
// others start.
func TestFaultOverlappingRuns(t *testing.T) {
	faultCase(t, true)
	e := startE2E(t, laggingZone)
	for _, n := range []int{2, 10} {
		t.Run(fmt.Sprintf("%d runs", n), func(t *testing.T) {
			faultCase(t, n == 2)
			ctx := t.Context()
			home := t.TempDir()
			state := filepath.Join(home, "state")
			plug := copyPlugin(t, filepath.Join(e.bin, "zonecert-dns-rfc2136"))
			names := make([]string, n)
			args := make([][]string, n)
			for i := range n {
				names[i] = fmt.Sprintf("overlap%d-%d.example.test", n, i)
				args[i] = e.obtainArgs(state, "--plugin-path", plug, "-d", names[i])
			}
			codes := make([]int, n)
			logs := make([]string, n)
			var wg sync.WaitGroup
			started := make(chan struct{})
			wg.Go(func() {
				var once sync.Once
				_, logs[0] = runKilled(ctx, t, e.bin, e.rfc2136Env(home), func(l string) bool {
					if stageLine("propagating")(l) {
						once.Do(func() { close(started) })
					}
					return false
				}, args[0]...)
				once.Do(func() { close(started) })
			})
			<-started // the first run's records are out, its wait has begun
			for i := 1; i < n; i++ {
				wg.Go(func() {
					r := zonecert(ctx, t, e.bin, e.rfc2136Env(home), args[i]...)
					codes[i], logs[i] = r.code, r.stderr
				})
			}
			wg.Wait()
			if _, err := os.Stat(filepath.Join(state, "live", names[0], "fullchain.pem")); err != nil {
				codes[0] = 1
			}
			ok := 0
			for i := range n {
				if codes[i] != 0 {
					t.Errorf("run %d (%s): exit %d\n%s", i, names[i], codes[i], logs[i])
					continue
				}
				ok++
				verifyChain(ctx, t, e.pebble, filepath.Join(state, "live", names[i], "fullchain.pem"), []string{names[i]})
			}
			t.Logf("%d of %d overlapping runs succeeded", ok, n)
			var txt []string
			for _, nm := range names {
				txt = append(txt, "_acme-challenge."+nm+".")
			}
			e.nothingLeft(ctx, t, state, txt...)
			noPluginLeft(t, plug)
		})
	}
}

// The CA failing at each step through a fault-injecting proxy in front of
// real Pebble: the order completes in this run (the client retries what
// may be retried) or in the next, and nothing is left behind.
func TestFaultCA(t *testing.T) {
	faultCase(t, true)
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}})
	steps := []string{"directory", "nonce", "account", "new-order", "authz", "challenge", "finalize", "order", "certificate"}
	var mu sync.Mutex
	var runs, first, second int
	t.Cleanup(func() {
		t.Logf("CA faults: %d runs; %d orders completed in the faulty run, %d in the next", runs, first, second)
	})
	for si, step := range steps {
		for ki, kind := range faultproxy.Kinds {
			fast := step == "finalize" && kind == faultproxy.Status503
			t.Run(step+"/"+string(kind), func(t *testing.T) {
				faultCase(t, fast)
				t.Parallel()
				ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
				defer cancel()
				px, err := faultproxy.Start(e.pebble.DirectoryURL, e.pebble.HTTPClient.Transport, faultproxy.Fault{Step: step, Kind: kind})
				if err != nil {
					t.Fatal(err)
				}
				defer px.Close()
				home := t.TempDir()
				state := filepath.Join(home, "state")
				bundle := filepath.Join(home, "proxy.pem")
				if err := os.WriteFile(bundle, px.CABundlePEM, 0o600); err != nil {
					t.Fatal(err)
				}
				plug := copyPlugin(t, filepath.Join(e.bin, "zonecert-dns-rfc2136"))
				name := fmt.Sprintf("ca%d-%d.example.test", si, ki)
				args := e.obtainArgs(state, "--plugin-path", plug, "-d", name)
				args = replaceFlag(args, "--server", px.DirectoryURL)
				args = replaceFlag(args, "--ca-bundle", bundle)
				r := zonecert(ctx, t, e.bin, e.rfc2136Env(home), args...)
				if px.Fired() == 0 {
					t.Fatalf("the fault never fired (exit %d)\n%s", r.code, r.stderr)
				}
				mu.Lock()
				runs++
				mu.Unlock()
				if r.code != 0 {
					if r.code != exitCA {
						t.Errorf("faulty run: exit %d, want %d (the CA failed)\n%s", r.code, exitCA, r.stderr)
					}
					t.Logf("faulty run failed as it should (exit %d): %s", r.code, lastLine(r.stderr))
					r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), args...)
					mu.Lock()
					runs++
					mu.Unlock()
					if r.code != 0 {
						t.Fatalf("the run after the fault: exit %d\n%s", r.code, r.stderr)
					}
					mu.Lock()
					second++
					mu.Unlock()
				} else {
					mu.Lock()
					first++
					mu.Unlock()
				}
				verifyChain(ctx, t, e.pebble, filepath.Join(state, "live", name, "fullchain.pem"), []string{name})
				e.nothingLeft(ctx, t, state, "_acme-challenge."+name+".")
				noPluginLeft(t, plug)
			})
		}
	}
}

func replaceFlag(args []string, flag, value string) []string {
	out := append([]string(nil), args...)
	for i := range out[:len(out)-1] {
		if out[i] == flag {
			out[i+1] = value
		}
	}
	return out
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// faultPluginEnv configures the fault plugin against e's primary (or
// nameserver, when set) with mode armed once (marker file in home).
func (e *e2eEnv) faultPluginEnv(home, nameserver, mode string) []string {
	if nameserver == "" {
		nameserver = netip.AddrPortFrom(e.bind.Primary, 53).String()
	}
	return baseEnv(home,
		"FAULTDNS_NAMESERVER="+nameserver,
		"FAULTDNS_TSIG_KEY="+e.bind.TSIGKey,
		"FAULTDNS_TSIG_SECRET="+e.bind.TSIGSecret,
		"FAULTDNS_TSIG_ALGORITHM="+e.bind.TSIGAlgorithm,
		"FAULTDNS_MODE="+mode,
		"FAULTDNS_ONCE="+filepath.Join(home, "fault-fired"),
	)
}
