package testenv

import (
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestBINDPrimaryAndLaggingSecondary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs BIND9 and root")
	}
	t.Parallel()
	const lag = 800 * time.Millisecond
	b := StartBIND(t, BINDConfig{
		Zones: []Zone{
			{Name: "example.test", Records: []string{"www IN A 192.0.2.1"}},
			{Name: "sub.example.test"},
		},
		PrimaryExtraAddrs: 1,
		Secondary:         true,
		SecondaryLag:      lag,
	})
	ctx := t.Context()
	for _, server := range append(slices.Clone(b.PrimaryAddrs), b.Secondary) {
		for _, zone := range []string{"example.test", "sub.example.test"} {
			if _, err := b.Serial(ctx, server, zone); err != nil {
				t.Errorf("server %s zone %s: %v", server, zone, err)
			}
		}
	}
	if err := b.Update(ctx, "sub.example.test", []string{`_acme-challenge.sub.example.test. 60 IN TXT "v1"`}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := b.TXT(ctx, b.Primary, "_acme-challenge.sub.example.test")
	if err != nil || !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("primary TXT = %q, %v; want [v1]", got, err)
	}
	// The relay holds the NOTIFY for lag, so the secondary cannot have it yet.
	if got, err := b.TXT(ctx, b.Secondary, "_acme-challenge.sub.example.test"); err != nil || len(got) != 0 {
		t.Fatalf("secondary TXT right after the update = %q, %v; want nothing yet", got, err)
	}
	if err := waitTXT(t, b, b.Secondary, "_acme-challenge.sub.example.test", "v1"); err != nil {
		t.Fatal(err)
	}
	// Delegation: the parent zone refers to the sub-zone's servers.
	if got, err := b.TXT(ctx, b.Primary, "www.example.test"); err != nil || len(got) != 0 {
		t.Errorf("TXT www.example.test = %q, %v", got, err)
	}
}

func waitTXT(t *testing.T, b *BIND, server netip.Addr, name, want string) error {
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := b.TXT(t.Context(), server, name)
		if err == nil && slices.Contains(got, want) {
			return nil
		}
		select {
		case <-deadline.C:
			return fmt.Errorf("%s never served %s at %s (last %q, %v)", server, want, name, got, err)
		case <-tick.C:
		}
	}
}

func TestLoopbackAddrIsFreshAndRemoved(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs root")
	}
	t.Parallel()
	var a, b netip.Addr
	t.Run("add", func(t *testing.T) {
		a, b = LoopbackAddr(t), LoopbackAddr(t)
		if a == b || !a.IsLoopback() || !b.IsLoopback() {
			t.Fatalf("LoopbackAddr gave %s and %s", a, b)
		}
	})
	// Re-adding proves the subtest's cleanup removed the address.
	for _, addr := range []netip.Addr{a, b} {
		if out, err := exec.Command("ip", "addr", "add", addr.String()+"/32", "dev", "lo").CombinedOutput(); err != nil {
			t.Errorf("address %s still configured after cleanup: %v %s", addr, err, out)
		} else {
			_ = exec.Command("ip", "addr", "del", addr.String()+"/32", "dev", "lo").Run()
		}
	}
}
