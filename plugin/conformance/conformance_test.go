package conformance_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
)

const zone = "example.test."

// target serves a fresh store over DNS and returns a Config for a provider
// with flaw f; every Open shares the store, as instances share a real API.
func target(t *testing.T, f flaw, timeout time.Duration) conformance.Config {
	s := &store{zone: zone}
	srv := dnstest.Start(t, zone, s.txt)
	return conformance.Config{
		Target: conformance.InProcess(string(f), func(context.Context) (plugin.Provider, error) {
			return newProvider(s, f), nil
		}),
		Zone:         zone,
		Nameservers:  []string{srv.Addr()},
		Timeout:      timeout,
		PollInterval: 20 * time.Millisecond,
	}
}

func TestSoundProviderPasses(t *testing.T) {
	cfg := target(t, sound, 10*time.Second)
	cfg.Concurrency = 8
	conformance.Run(t, cfg)
}

// TestSoundProviderPassesOnTwoNameservers checks the kit waits for every
// nameserver: both serve the same store.
func TestSoundProviderPassesOnTwoNameservers(t *testing.T) {
	cfg := target(t, sound, 10*time.Second)
	s := &store{zone: zone}
	cfg.Target = conformance.InProcess("two-ns", func(context.Context) (plugin.Provider, error) {
		return newProvider(s, sound), nil
	})
	cfg.Nameservers = []string{dnstest.Start(t, zone, s.txt).Addr(), dnstest.Start(t, zone, s.txt).Addr()}
	conformance.Run(t, cfg)
}

// flawEnv selects the flawed provider TestFlawedTarget runs; it is set only
// in the subprocesses TestKitFailsFlawedProviders starts.
const flawEnv = "ZONECERT_CONFORMANCE_TEST_FLAW"

// TestFlawedTarget runs the kit against one flawed provider. It is meant to
// fail, so it runs only inside TestKitFailsFlawedProviders's subprocess.
func TestFlawedTarget(t *testing.T) {
	f := os.Getenv(flawEnv)
	if f == "" {
		t.Skip("run by TestKitFailsFlawedProviders")
	}
	conformance.Run(t, target(t, flaw(f), 1500*time.Millisecond))
}

// TestKitFailsFlawedProviders proves the kit can fail: each flawed provider
// fails exactly the checks its flaw breaks, and no others.
func TestKitFailsFlawedProviders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	cases := []struct {
		flaw flaw
		want []string
	}{
		{replaces, []string{"cleanup-exact-value", "cleanup-from-fresh-instance", "cleanup-without-state",
			"multi-name-batch", "result-ids", "two-values-coexist"}},
		{deletesAll, []string{"cleanup-exact-value", "cleanup-without-state"}},
		{duplicates, []string{"present-idempotent"}},
		{ignoresCtx, []string{"deadline-honoured"}},
		{noZoneCheck, []string{"outside-zone", "unknown-zone"}},
		{memoryBased, []string{"cleanup-from-fresh-instance", "cleanup-without-state"}},
	}
	failLine := regexp.MustCompile(`(?m)^\s*--- FAIL: TestFlawedTarget/[^/\s]+/(\S+) `)
	for _, c := range cases {
		t.Run(string(c.flaw), func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFlawedTarget$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), flawEnv+"="+string(c.flaw))
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed a provider that %s:\n%s", c.flaw, out)
			}
			var got []string
			for _, m := range failLine.FindAllStringSubmatch(string(out), -1) {
				got = append(got, m[1])
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("failed checks = %q, want %q; output:\n%s", got, c.want, out)
			}
		})
	}
}
