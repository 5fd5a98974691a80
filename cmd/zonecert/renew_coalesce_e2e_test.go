package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// renewFleet is n lineages of one name each in zone, obtained one by one
// (four at a time) straight through the primary, ready for a renew run
// that updates through u, which counts its UPDATE messages.
type renewFleet struct {
	e     *e2eEnv
	home  string
	state string
	names []string
	u     *updateCounter
}

func obtainFleet(t *testing.T, e *e2eEnv, zone string, n int) *renewFleet {
	t.Helper()
	f := &renewFleet{e: e, home: t.TempDir()}
	f.state = filepath.Join(f.home, "state")
	for i := range n {
		f.names = append(f.names, fmt.Sprintf("r%02d.%s", i, zone))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	obtain := func(name string) {
		r := zonecert(ctx, t, e.bin, e.rfc2136Env(f.home), e.obtainArgs(f.state, "--wait", "none", "-d", name)...)
		if r.code != 0 {
			t.Errorf("obtain %s: exit %d\n%s", name, r.code, r.stderr)
		}
	}
	obtain(f.names[0]) // registers the account
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, name := range f.names[1:] {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			obtain(name)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	f.u = startUpdateCounter(t, netip.AddrPortFrom(e.bind.Primary, 53))
	return f
}

// renew is the environment and arguments of a run that renews every
// lineage now, updating through f.u and waiting for every authoritative
// server (the plans say none: obtain did not wait).
func (f *renewFleet) renew() (env, args []string) {
	env = append(f.e.rfc2136Env(f.home), "RFC2136_NAMESERVER="+f.u.addr)
	args = []string{"renew", "--path", f.state, "--ca-bundle", f.e.bundle, "--force", "--json",
		"--dns-resolver", f.e.bind.Primary.String(), "--propagation-timeout", "90s", "--wait", "authoritative"}
	return env, args
}

// serials are the live certificates' serial numbers, by name.
func (f *renewFleet) serials(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range f.names {
		out[n] = liveLeaf(t, f.state, n).SerialNumber.String()
	}
	return out
}

// TestRenewCoalescesOneZone: twenty lineages of one zone renewed by one
// `renew` run (its defaults: every due lineage in flight, the daemon's
// coalescer limits) cost at most 6 UPDATE messages in all, publish and
// clean-up, as issue 20 asks of the daemon; without the coalescer they
// cost 40. Every lineage renews and no TXT record or journal entry is
// left.
func TestRenewCoalescesOneZone(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "one.test"}}})
	f := obtainFleet(t, e, "one.test", 20)
	before := f.serials(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	env, args := f.renew()
	r := zonecert(ctx, t, e.bin, env, args...)
	if r.code != 0 {
		t.Fatalf("renew: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	got := parseRenewJSON(t, r.stdout)
	after := f.serials(t)
	for _, n := range f.names {
		if !got[n].Renewed || after[n] == before[n] {
			t.Errorf("%s: %+v, serial %s → %s; want renewed", n, got[n], before[n], after[n])
		}
	}
	n := f.u.updates.Load()
	t.Logf("20 lineages in one zone, one renew run: %d UPDATE messages", n)
	if n > 6 {
		t.Errorf("%d UPDATE messages for 20 lineages of one zone, want at most 6", n)
	}
	e.nothingLeft(ctx, t, f.state, f.challenges()...)
}

func (f *renewFleet) challenges() []string {
	var out []string
	for _, n := range f.names {
		out = append(out, "_acme-challenge."+n+".")
	}
	return out
}

// TestRenewInterruptedCleansCoalesced: SIGTERM reaches a renew run while
// its lineages wait for a secondary that lags a minute, their records
// published in coalesced calls. The run exits 130, the coalesced clean-up
// removes every record and journal entry, and the lineages that were
// waiting keep their certificates.
func TestRenewInterruptedCleansCoalesced(t *testing.T) {
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "lag.test"}}, Secondary: true, SecondaryLag: time.Minute})
	f := obtainFleet(t, e, "lag.test", 8)
	before := f.serials(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	env, args := f.renew()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "zonecert"), args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Wait until every record the run journaled is at the primary (one at
	// least): those lineages are in the propagation wait, which the
	// secondary holds up. Pebble may reuse a lineage's authorization from
	// its obtain, and that one renews with no record at all.
	journal := filepath.Join(f.state, "journal")
	var waiting []string
	var ents []os.DirEntry
	for {
		waiting = waiting[:0]
		for _, n := range f.names {
			if txt, err := e.bind.TXT(ctx, e.bind.Primary, "_acme-challenge."+n+"."); err == nil && len(txt) > 0 {
				waiting = append(waiting, n)
			}
		}
		ents, _ = os.ReadDir(journal)
		if len(waiting) > 0 && len(waiting) == len(ents) {
			break
		}
		select {
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("records never all published\n%s", stderr.String())
		case err := <-exited:
			t.Fatalf("renew ended (%v) before its records were published\n%s\n%s", err, stdout.String(), stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	present := f.u.updates.Load()
	// The records are journaled under the plugin's own instance (its
	// fingerprint), not the coalescer's: only it may remove them later.
	for _, en := range ents {
		var j struct{ Provider string }
		b, err := os.ReadFile(filepath.Join(journal, en.Name()))
		if err == nil {
			err = json.Unmarshal(b, &j)
		}
		if err != nil || !strings.HasPrefix(j.Provider, "rfc2136@") {
			t.Errorf("journal entry %s names provider %q (%v), want the plugin's fingerprint rfc2136@…", en.Name(), j.Provider, err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := <-exited
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitCanceled {
		t.Fatalf("renew after SIGTERM: %v, want exit %d\n%s\n%s", err, exitCanceled, stdout.String(), stderr.String())
	}
	t.Logf("%d lineages, %d waiting at SIGTERM: %d UPDATEs to publish, %d in all", len(f.names), len(waiting), present, f.u.updates.Load())
	e.nothingLeft(ctx, t, f.state, f.challenges()...)
	got, after := parseRenewJSON(t, stdout.String()), f.serials(t)
	for _, n := range waiting {
		if got[n].Renewed || after[n] != before[n] {
			t.Errorf("%s, interrupted in its wait: %+v, serial %s → %s; want the old certificate", n, got[n], before[n], after[n])
		}
	}
}
