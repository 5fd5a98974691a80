package conformance_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sync"
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
	return targetStore(t, &store{zone: zone}, f, timeout)
}

func targetStore(t *testing.T, s *store, f flaw, timeout time.Duration) conformance.Config {
	srv := dnstest.StartValues(t, zone, s.values)
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
	cfg.Nameservers = []string{dnstest.StartValues(t, zone, s.values).Addr(), dnstest.StartValues(t, zone, s.values).Addr()}
	conformance.Run(t, cfg)
}

// limited is an acme-dns-like API: no delete, the two newest values kept
// per name, and only provisioned names writable.
func limited(t *testing.T, timeout time.Duration) (conformance.Config, *store) {
	s := &store{zone: zone, keep: 2}
	cfg := targetStore(t, s, noDelete, timeout)
	cfg.Capabilities = plugin.Capabilities{NoDelete: true, MaxValuesPerName: 2, ProvisionedNames: true}
	return cfg, s
}

// TestLimitedProviderPassesWithNames: the kit certifies a provider that
// declares its limits, writing only the names it is given; exactly
// NamesNeeded of them are enough.
func TestLimitedProviderPassesWithNames(t *testing.T) {
	cfg, s := limited(t, 10*time.Second)
	for i := range conformance.NamesNeeded(cfg) {
		n := fmt.Sprintf("_acme-challenge.n%d.%s", i, zone)
		s.provision(n)
		cfg.Names = append(cfg.Names, n)
	}
	conformance.Run(t, cfg)
}

// TestLimitedProviderPassesWithProvisionHook: the same with names the kit
// makes up and provisions through the hook.
func TestLimitedProviderPassesWithProvisionHook(t *testing.T) {
	cfg, s := limited(t, 10*time.Second)
	var mu sync.Mutex
	var provisioned []string
	cfg.Provision = func(_ context.Context, fqdn string) error {
		mu.Lock()
		provisioned = append(provisioned, fqdn)
		mu.Unlock()
		s.provision(fqdn)
		return nil
	}
	conformance.Run(t, cfg)
	if len(provisioned) == 0 {
		t.Fatal("the kit never called the provisioning hook")
	}
}

// TestForeignHook: the foreign-rrset-restored check uses a value created
// outside the provider when the Config says how.
func TestForeignHook(t *testing.T) {
	s := &store{zone: zone}
	cfg := targetStore(t, s, sound, 10*time.Second)
	var created int
	cfg.Foreign = func(_ context.Context, fqdn, value string, ttl uint32) (func(context.Context) error, error) {
		created++
		s.add(fqdn, value, ttl, sound)
		return func(context.Context) error {
			s.remove(func(r stored) bool { return r.fqdn == fqdn && r.value == value })
			return nil
		}, nil
	}
	conformance.Run(t, cfg)
	if created != 1 {
		t.Fatalf("Foreign called %d times, want 1", created)
	}
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
	conformance.Run(t, flawedConfig(t, f))
}

// flawedConfig is the Config for one case of TestKitFailsFlawedProviders.
func flawedConfig(t *testing.T, name string) conformance.Config {
	const timeout = 1500 * time.Millisecond
	switch name {
	case "lies-no-delete": // declares no delete, deletes
		cfg := target(t, sound, timeout)
		cfg.Capabilities.NoDelete = true
		return cfg
	case "keeps-one": // declares two values per name, keeps one
		cfg := targetStore(t, &store{zone: zone, keep: 1}, sound, timeout)
		cfg.Capabilities.MaxValuesPerName = 2
		return cfg
	case "delegated-no-cname": // a delegated run whose challenge names lead nowhere
		cfg, s, _ := delegated(t, timeout)
		for i := range conformance.NamesNeeded(cfg) {
			s.provision(fmt.Sprintf("acct-%d.%s", i, zone))
			cfg.Names = append(cfg.Names, fmt.Sprintf("_acme-challenge.d%d.%s", i, userZone))
		}
		return cfg
	case string(racy):
		// Only the concurrent check makes concurrent calls; the others,
		// run one by one, cannot lose each other's writes.
		cfg := target(t, racy, timeout)
		cfg.Serial = true
		return cfg
	}
	return target(t, flaw(name), timeout)
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
			"foreign-rrset-restored", "multi-name-batch", "result-ids", "two-values-coexist"}},
		{deletesAll, []string{"cleanup-exact-value", "cleanup-without-state", "foreign-rrset-restored"}},
		{duplicates, []string{"present-idempotent"}},
		{ignoresCtx, []string{"deadline-honoured"}},
		{noZoneCheck, []string{"outside-zone", "unknown-zone"}},
		{memoryBased, []string{"cleanup-from-fresh-instance", "cleanup-without-state"}},
		{silent, []string{"cleanup-absent-value", "cleanup-exact-value", "cleanup-from-fresh-instance",
			"cleanup-without-state", "concurrent-batches", "foreign-rrset-restored", "multi-name-batch",
			"present-idempotent", "result-ids", "two-values-coexist", "visible-after-present"}},
		{errsWhenAbsent, []string{"cleanup-absent-value", "present-idempotent"}},
		{racy, []string{"concurrent-batches"}},
		{clobbersTTL, []string{"foreign-rrset-restored"}},
		{"lies-no-delete", []string{"cleanup-absent-value", "cleanup-exact-value", "cleanup-from-fresh-instance",
			"cleanup-without-state", "concurrent-batches", "multi-name-batch", "present-idempotent", "result-ids",
			"two-values-coexist", "visible-after-present"}},
		// Never a silent fallback to writing at the challenge name.
		{"delegated-no-cname", []string{"cleanup-absent-value", "cleanup-exact-value", "cleanup-from-fresh-instance",
			"cleanup-without-state", "concurrent-batches", "deadline-honoured", "multi-name-batch", "present-idempotent",
			"result-ids", "two-values-coexist", "visible-after-present"}},
		{"keeps-one", []string{"cleanup-exact-value", "cleanup-from-fresh-instance", "cleanup-without-state",
			"foreign-rrset-restored", "multi-name-batch", "result-ids", "two-values-coexist"}},
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
