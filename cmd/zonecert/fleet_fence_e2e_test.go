//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/core/storage/etcdstore"
	"github.com/zonecert/zonecert/internal/faultproxy"
)

// The frozen-writer tests: an order is held by its own ACME proxy at the
// certificate download (its authorizations valid, its records removed,
// the certificate issued but not yet stored), frozen there with SIGSTOP
// past its leases while a daemon of the fleet takes the certificate over
// and stores its own, then resumed with the held answer. Two guards stand
// between the resumed order and the store: a daemon's claim watcher
// (cancels the order once the claim's lease is seen gone) and the fence
// on every write under the certificate lock (storage.ErrFenced). In a
// daemon the watcher always fires first (the etcd client reaps an overdue
// lease within a second of resuming, long before the order's next HTTP
// round trip and write), so the fence is put to the test by the one
// legitimate writer without a claim: a command (`zonecert obtain
// --storage etcd://…`) run against the fleet's store.

// leafSerial is the serial of the first certificate in a PEM chain.
func leafSerial(t *testing.T, chain []byte) string {
	t.Helper()
	blk, _ := pem.Decode(chain)
	if blk == nil {
		t.Fatalf("no PEM certificate in %q", chain)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", c.SerialNumber)
}

// waitHeld waits for h to hold a request.
func waitHeld(ctx context.Context, t *testing.T, what string, h *faultproxy.Held) {
	t.Helper()
	select {
	case <-h.Reached():
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
	}
}

// passOn releases h as soon as it holds a request and sends the serial of
// the certificate it answered: the serial the other daemon's order got.
func passOn(ctx context.Context, t *testing.T, h *faultproxy.Held) <-chan string {
	serial := make(chan string, 1)
	go func() {
		select {
		case <-h.Reached():
			h.Release()
			blk, _ := pem.Decode(h.Answer())
			if blk == nil {
				serial <- "(no PEM)"
				return
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				serial <- err.Error()
				return
			}
			serial <- fmt.Sprintf("%x", c.SerialNumber)
		case <-ctx.Done():
		}
	}()
	return serial
}

// storedSerial is the serial of the certificate stored for name.
func storedSerial(ctx context.Context, t *testing.T, s *etcdstore.Store, name string) string {
	t.Helper()
	b, err := s.Get(ctx, storage.LiveFileKey(name, storage.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	return leafSerial(t, b)
}

// takeOver starts daemon B (through its own proxy) once A is frozen and
// returns it with the serial its order got, after it stored it.
func takeOver(ctx context.Context, t *testing.T, e *daemonEnv, s *etcdstore.Store, table string, certs []daemonCert) (*daemonProc, string) {
	t.Helper()
	proxyB, viaB := acmeProxy(t, e, "proxy-b")
	serialB := passOn(ctx, t, proxyB.Hold("certificate"))
	b := e.startDaemon(t, e.writeConfigVia(t, "b.toml", viaB, "authoritative", certs, table))
	b.waitRecord(t, 0, 90*time.Second, map[string]string{"msg": "certificate stored", "cert": "one"})
	var serial string
	select {
	case serial = <-serialB:
	case <-ctx.Done():
		t.Fatal("daemon B stored a certificate its proxy never saw downloaded")
	}
	if got := storedSerial(ctx, t, s, "one"); got != serial {
		t.Fatalf("stored serial %s after B's order, B's order got %s", got, serial)
	}
	return b, serial
}

// A daemon frozen (SIGSTOP) at its certificate download past its lease:
// daemon B takes the certificate over and stores its own; A, resumed,
// sees its claim lost and abandons the order before any write, and the
// stored certificate stays B's.
func TestFleetFrozenDaemonDoesNotOverwrite(t *testing.T) {
	e, s, table, _ := fleetEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	certs := daemonCerts[:1]
	proxyA, viaA := acmeProxy(t, e, "proxy-a")
	heldA := proxyA.Hold("certificate")
	a := e.startDaemon(t, e.writeConfigVia(t, "a.toml", viaA, "authoritative", certs, table))
	waitHeld(ctx, t, "daemon A's certificate download", heldA)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	serialA := leafSerial(t, heldA.Answer())
	b, serialB := takeOver(ctx, t, e, s, table, certs)
	t.Logf("A frozen %v; B stored serial %s (A's order was issued %s)", time.Since(frozen).Round(time.Millisecond), serialB, serialA)
	from := a.count()
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The guard that stops A: its claim watcher, before the answer reaches it.
	a.waitRecord(t, from, 30*time.Second, map[string]string{"msg": "certificate claim lost; abandoning the order", "cert": "one"})
	heldA.Release()
	rec, _ := a.waitRecord(t, from, 60*time.Second, map[string]string{"msg": "order failed", "cert": "one"})
	msg := fmt.Sprint(rec["error"])
	t.Logf("A's order: %s", msg)
	if !strings.Contains(msg, "claim was lost") {
		t.Errorf("A's order failed with %q, want the claim loss named", msg)
	}
	if got := storedSerial(ctx, t, s, "one"); got != serialB {
		t.Errorf("stored serial %s after A resumed, want B's %s (A's was %s)", got, serialB, serialA)
	}
	a.stop(t, syscall.SIGTERM)
	b.stop(t, syscall.SIGTERM)
	if got := storedSerial(ctx, t, s, "one"); got != serialB {
		t.Errorf("stored serial %s at the end, want B's %s", got, serialB)
	}
	fleetNoLeftovers(ctx, t, e, s, certs)
}

// `zonecert obtain --storage etcd://…` (no claim: a command relies on the
// fence alone) frozen at its certificate download past its lease: a
// daemon takes the certificate over and stores its own; the command,
// resumed with its certificate in hand, writes it and the fence refuses
// the write (storage.ErrFenced): the stored certificate stays the
// daemon's.
func TestFleetFrozenWriteIsFenced(t *testing.T) {
	e, s, table, url := fleetEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	certs := daemonCerts[:1]
	proxyA, viaA := acmeProxy(t, e, "proxy-a")
	heldA := proxyA.Hold("certificate")
	args := []string{"obtain", "--storage", url, "--cert-name", "one",
		"--server", viaA.server, "--ca-bundle", viaA.bundle, "--agree-tos", "--email", "cli@example.com",
		"--dns", "rfc2136", "--plugin-dir", e.plugins, "--dns-resolver", e.bind.Primary.String(),
		"--propagation-timeout", "30s", "--path", filepath.Join(e.dir, "cli-state")}
	for _, d := range certs[0].Domains {
		args = append(args, "-d", d)
	}
	cmd := exec.Command(filepath.Join(e.bin, "zonecert"), args...)
	cmd.Env = append(e.rfc2136Env(e.dir), e.env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // an error once it exited
		<-exited
		if t.Failed() {
			t.Logf("obtain output:\n%s", stderr.String())
		}
	})
	select {
	case <-heldA.Reached():
	case <-exited:
		t.Fatalf("obtain ended before its download was held: %v\n%s", waitErr, stderr.String())
	case <-ctx.Done():
		t.Fatal("obtain's certificate download was never held")
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	serialA := leafSerial(t, heldA.Answer())
	b, serialB := takeOver(ctx, t, e, s, table, certs)
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	heldA.Release()
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatal("the resumed obtain did not end")
	}
	err := waitErr
	out := stderr.String()
	t.Logf("resumed obtain (issued %s; B stored %s): %v\n%s", serialA, serialB, err, out)
	if err == nil || !strings.Contains(out, storage.ErrFenced.Error()) || !strings.Contains(out, "this one is not stored") {
		t.Errorf("the resumed obtain: %v, want its write refused by the fence (%q)", err, storage.ErrFenced)
	}
	if got := storedSerial(ctx, t, s, "one"); got != serialB {
		t.Errorf("stored serial %s after the resumed write, want B's %s (A's was %s)", got, serialB, serialA)
	}
	b.stop(t, syscall.SIGTERM)
	fleetNoLeftovers(ctx, t, e, s, certs)
}
