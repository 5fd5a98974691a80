package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/internal/testenv"
)

// The fault plugin (internal/faultplugin) misbehaving once: the order
// completes in this run or the next, the plugin process dies with
// zonecert, nothing is left behind.
func TestFaultPlugin(t *testing.T) {
	faultCase(t, true)
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}})
	built := testenv.PluginBinary(t, "faultdns", "../../internal/faultplugin")
	cases := []struct {
		mode     string
		firstOK  bool   // the faulty run still gets the certificate
		stderr   string // what the faulty run must say
		fast     bool
		journals bool // the faulty run leaves a journal entry for the next
	}{
		{mode: "die-in-present", stderr: "plugin process crashed"},
		{mode: "die-in-cleanup", firstOK: true, stderr: "plugin process crashed", journals: true, fast: true},
		{mode: "hang-present", stderr: "deadline exceeded"},
		{mode: "hang-cleanup", firstOK: true, stderr: "deadline exceeded", journals: true},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			faultCase(t, tc.fast)
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			home := t.TempDir()
			state := filepath.Join(home, "state")
			plug := copyPlugin(t, built)
			name := tc.mode + ".example.test"
			txt := "_acme-challenge." + name + "."
			args := e.obtainArgs(state, "--plugin-path", plug, "-d", name, "--plugin-timeout", "3s")
			args = replaceFlag(args, "--dns", "faultdns")
			env := e.faultPluginEnv(home, "", tc.mode)
			r := zonecert(ctx, t, e.bin, env, args...)
			if _, err := os.Stat(filepath.Join(home, "fault-fired")); err != nil {
				t.Fatalf("the fault never fired (exit %d)\n%s", r.code, r.stderr)
			}
			if ok := r.code == 0; ok != tc.firstOK || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("faulty run: exit %d (want success %v), stderr lacks %q?\n%s", r.code, tc.firstOK, tc.stderr, r.stderr)
			}
			if !tc.firstOK && r.code != exitDNS {
				t.Errorf("faulty run: exit %d, want %d", r.code, exitDNS)
			}
			noPluginLeft(t, plug)
			if ents, _ := os.ReadDir(filepath.Join(state, "journal")); (len(ents) > 0) != tc.journals {
				t.Errorf("journal after the faulty run holds %d entries; want entries: %v", len(ents), tc.journals)
			}
			if !tc.journals {
				e.noTXT(ctx, t, txt) // cleaned up in the same run, by a restarted plugin
			}
			r = zonecert(ctx, t, e.bin, env, args...)
			if r.code != 0 {
				t.Fatalf("the run after the fault: exit %d\n%s", r.code, r.stderr)
			}
			verifyChain(ctx, t, e.pebble, filepath.Join(state, "live", name, "fullchain.pem"), []string{name})
			e.nothingLeft(ctx, t, state, txt)
			noPluginLeft(t, plug)
		})
	}
}

// updateGate stands between a provider and the primary: it forwards DNS
// over TCP, or, while down, closes each connection at once, or, while
// refusing, answers every message REFUSED.
type updateGate struct {
	ln      net.Listener
	primary string
	mode    atomic.Value // "up", "down" or "refuse"
	seen    atomic.Int32 // connections while not up
	wg      sync.WaitGroup
}

func startGate(t *testing.T, primary string, mode string) *updateGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &updateGate{ln: ln, primary: primary}
	g.mode.Store(mode)
	g.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.wg.Go(func() { g.serve(c) })
		}
	})
	t.Cleanup(func() { _ = ln.Close(); g.wg.Wait() })
	return g
}

func (g *updateGate) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	switch g.mode.Load().(string) {
	case "down":
		g.seen.Add(1)
		return
	case "refuse":
		g.seen.Add(1)
		var n uint16
		if binary.Read(c, binary.BigEndian, &n) != nil {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		m := new(dns.Msg)
		if m.Unpack(buf) != nil {
			return
		}
		r := new(dns.Msg)
		r.SetRcode(m, dns.RcodeRefused)
		out, _ := r.Pack()
		_ = binary.Write(c, binary.BigEndian, uint16(len(out)))
		_, _ = c.Write(out)
		return
	}
	up, err := net.Dial("tcp", g.primary)
	if err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, c)
		_ = up.Close() // the client is done: do not wait for BIND's idle timeout
		close(done)
	}()
	_, _ = io.Copy(c, up)
	_ = c.Close()
	<-done
}

// The DNS primary down or refusing updates during Present: the order
// fails with the DNS exit code, the record stays journaled (it may exist),
// and once the primary is back the next run removes it and completes.
func TestFaultPrimary(t *testing.T) {
	faultCase(t, false)
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}})
	built := testenv.PluginBinary(t, "faultdns", "../../internal/faultplugin")
	for _, mode := range []string{"down", "refuse"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			gate := startGate(t, netip.AddrPortFrom(e.bind.Primary, 53).String(), mode)
			home := t.TempDir()
			state := filepath.Join(home, "state")
			plug := copyPlugin(t, built)
			name := "primary-" + mode + ".example.test"
			args := replaceFlag(e.obtainArgs(state, "--plugin-path", plug, "-d", name), "--dns", "faultdns")
			env := e.faultPluginEnv(home, gate.ln.Addr().String(), "")
			r := zonecert(ctx, t, e.bin, env, args...)
			if r.code != exitDNS || !strings.Contains(r.stderr, "publishing") || gate.seen.Load() == 0 {
				t.Fatalf("with the primary %s: exit %d (want %d), %d refused connections\n%s", mode, r.code, exitDNS, gate.seen.Load(), r.stderr)
			}
			if _, err := os.Stat(filepath.Join(state, "live")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("live/ after a failed order: %v", err)
			}
			// Cleanup could not reach the primary either: the entry stays.
			if ents, _ := os.ReadDir(filepath.Join(state, "journal")); len(ents) != 1 {
				t.Errorf("journal holds %d entries after the failed cleanup, want 1", len(ents))
			}
			noPluginLeft(t, plug)
			gate.mode.Store("up")
			r = zonecert(ctx, t, e.bin, env, args...)
			if r.code != 0 {
				t.Fatalf("with the primary back: exit %d\n%s", r.code, r.stderr)
			}
			verifyChain(ctx, t, e.pebble, filepath.Join(state, "live", name, "fullchain.pem"), []string{name})
			e.nothingLeft(ctx, t, state, "_acme-challenge."+name+".")
			noPluginLeft(t, plug)
		})
	}
}

// One of two authoritative servers never gets the record: the wait names
// it, times out and cleans up.
func TestFaultSecondaryNeverServes(t *testing.T) {
	faultCase(t, false)
	e := startE2E(t, testenv.BINDConfig{
		Zones:     []testenv.Zone{{Name: "example.test"}},
		Secondary: true, SecondaryLag: time.Hour,
	})
	ctx := t.Context()
	home := t.TempDir()
	state := filepath.Join(home, "state")
	plug := copyPlugin(t, filepath.Join(e.bin, "zonecert-dns-rfc2136"))
	args := replaceFlag(e.obtainArgs(state, "--plugin-path", plug, "-d", "lost.example.test"), "--propagation-timeout", "4s")
	r := zonecert(ctx, t, e.bin, e.rfc2136Env(home), args...)
	want := e.bind.SecondaryNS + ".example.test. (" + e.bind.Secondary.String() + ":53) lacks _acme-challenge.lost.example.test."
	if r.code != exitDNS || !strings.Contains(r.stderr, "timed out") || !strings.Contains(r.stderr, want) {
		t.Fatalf("exit %d (want %d); stderr should name %q:\n%s", r.code, exitDNS, want, r.stderr)
	}
	e.nothingLeft(ctx, t, state, "_acme-challenge.lost.example.test.")
	noPluginLeft(t, plug)
}

// A record left by a killed run with one provider is never handed to
// another: a run with another --dns leaves it journaled and names the
// provider it needs; the next run with the first provider removes it.
func TestFaultOtherProviderLeavesEntries(t *testing.T) {
	faultCase(t, false)
	e := startE2E(t, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}})
	ctx := t.Context()
	home := t.TempDir()
	state := filepath.Join(home, "state")
	rfc := copyPlugin(t, filepath.Join(e.bin, "zonecert-dns-rfc2136"))
	fault := copyPlugin(t, testenv.PluginBinary(t, "faultdns", "../../internal/faultplugin"))
	args := e.obtainArgs(state, "--plugin-path", rfc, "-d", "left.example.test")
	killed, log := runKilled(ctx, t, e.bin, e.rfc2136Env(home), stageLine("propagating"), args...)
	if !killed {
		t.Fatalf("never reached the wait:\n%s", log)
	}
	noPluginLeft(t, rfc)
	other := replaceFlag(e.obtainArgs(state, "--plugin-path", fault, "-d", "other.example.test"), "--dns", "faultdns")
	r := zonecert(ctx, t, e.bin, e.faultPluginEnv(home, "", ""), other...)
	if r.code != 0 {
		t.Fatalf("run with the other provider: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "another provider") || !strings.Contains(r.stderr, "provider=rfc2136@") {
		t.Errorf("the other provider's run does not name the provider the entry needs:\n%s", r.stderr)
	}
	if ents, _ := os.ReadDir(filepath.Join(state, "journal")); len(ents) != 1 {
		t.Fatalf("journal holds %d entries after the other provider's run, want the rfc2136 one", len(ents))
	}
	if vals, err := e.bind.TXT(ctx, e.bind.Primary, "_acme-challenge.left.example.test."); err != nil || len(vals) != 1 {
		t.Fatalf("the killed run's record: %q, %v; want it still there", vals, err)
	}
	r = zonecert(ctx, t, e.bin, e.rfc2136Env(home), args...)
	if r.code != 0 {
		t.Fatalf("run with rfc2136 again: exit %d\n%s", r.code, r.stderr)
	}
	e.nothingLeft(ctx, t, state, "_acme-challenge.left.example.test.", "_acme-challenge.other.example.test.")
	noPluginLeft(t, rfc)
	noPluginLeft(t, fault)
}
