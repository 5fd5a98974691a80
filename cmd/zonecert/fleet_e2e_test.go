//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/core/storage/etcdstore"
	"github.com/zonecert/zonecert/internal/testenv"
)

// fleetEnv is the daemon world plus an etcd the daemons share.
func fleetEnv(t *testing.T) (*daemonEnv, *etcdstore.Store, string) {
	e := startDaemonEnv(t)
	etcd := testenv.StartEtcd(t, 1)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	e.env = []string{"ZONECERT_STORAGE_KEY=" + base64.StdEncoding.EncodeToString(key)}
	s, err := etcdstore.New(etcdstore.Options{Endpoints: etcd.Endpoints(), Prefix: "fleet", Keys: [][]byte{key}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	table := fmt.Sprintf("\n[storage]\nendpoints = [%q]\nprefix = \"fleet\"\n", strings.TrimPrefix(etcd.Endpoint(0), "http://"))
	return e, s, table
}

// fleetWaitPublished waits until every challenge name of certs is served.
func fleetWaitPublished(ctx context.Context, t *testing.T, e *daemonEnv, certs []daemonCert) {
	t.Helper()
	for _, n := range challengeNames(certs) {
		etcdWaitFor(ctx, t, "record at "+n, func() bool {
			vals, err := e.bind.TXT(ctx, e.bind.Primary, n)
			return err == nil && len(vals) > 0
		})
	}
}

func fleetNoLeftovers(ctx context.Context, t *testing.T, e *daemonEnv, s *etcdstore.Store, certs []daemonCert) {
	t.Helper()
	for _, n := range challengeNames(certs) {
		if vals, err := e.bind.TXT(ctx, e.bind.Primary, n); err != nil || len(vals) > 0 {
			t.Errorf("TXT left at %s: %v %v", n, vals, err)
		}
	}
	if left, err := s.List(ctx, storage.JournalDir); err != nil || len(left) > 0 {
		t.Errorf("journal entries left in etcd: %q, %v", left, err)
	}
}

// A daemon killed with SIGKILL while its records (on two provider
// instances) are published: another daemon of the fleet takes the order
// over once the dead one's lease ends, removes the records through the
// right instances, and stores the certificate.
func TestFleetTakeOverAfterKill(t *testing.T) {
	e, s, table := fleetEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	certs := daemonCerts[2:] // the two-provider order
	cfg := e.writeConfig(t, "fixed:8s", certs, table)
	a := e.startDaemon(t, cfg)
	fleetWaitPublished(ctx, t, e, certs)
	a.stop(t, syscall.SIGKILL)
	killed := time.Now()
	b := e.startDaemon(t, cfg)
	b.waitRecord(t, 0, 90*time.Second, map[string]string{"msg": "order starting", "cert": "mixed"})
	t.Logf("fail-over: %v from SIGKILL to the other daemon's order (lease %v)", time.Since(killed).Round(time.Millisecond), etcdstore.DefaultLockTTL)
	b.waitRecord(t, 0, 90*time.Second, map[string]string{"msg": "certificate stored", "cert": "mixed"})
	if _, err := s.Get(ctx, storage.LiveFileKey("mixed", storage.PrivKeyFile)); err != nil {
		t.Fatal(err)
	}
	b.stop(t, syscall.SIGTERM)
	fleetNoLeftovers(ctx, t, e, s, certs)
}

// A daemon frozen (SIGSTOP) mid-order past its lease: another daemon takes
// the certificate over and stores it; the frozen one, resumed, does not
// replace that certificate. (Here the resumed order fails at validation,
// its records having been cleaned up by the daemon that took over; the
// fence on the final write itself is TestFleetPausedWriteIsFenced in
// core/daemon.)
func TestFleetFrozenDaemonDoesNotOverwrite(t *testing.T) {
	e, s, table := fleetEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	certs := daemonCerts[:1]
	cfg := e.writeConfig(t, "fixed:8s", certs, table)
	a := e.startDaemon(t, cfg)
	fleetWaitPublished(ctx, t, e, certs)
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	b := e.startDaemon(t, cfg)
	b.waitRecord(t, 0, 90*time.Second, map[string]string{"msg": "certificate stored", "cert": "one"})
	stored, err := s.Get(ctx, storage.LiveFileKey("one", storage.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	from := a.count()
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	rec, _ := a.waitRecord(t, from, 90*time.Second, map[string]string{"msg": "order failed", "cert": "one"})
	t.Logf("the resumed daemon's order: %v", rec["error"])
	now, err := s.Get(ctx, storage.LiveFileKey("one", storage.CertFile))
	if err != nil || !bytes.Equal(now, stored) {
		t.Errorf("the resumed daemon replaced the certificate the other one stored (%v)", err)
	}
	a.stop(t, syscall.SIGTERM)
	b.stop(t, syscall.SIGTERM)
	fleetNoLeftovers(ctx, t, e, s, certs)
}
