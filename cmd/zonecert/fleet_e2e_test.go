//go:build unix

package main

import (
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

// fleetEnv is the daemon world plus an etcd the daemons share: a store on
// it, the config's [storage] table, and its --storage URL for commands.
func fleetEnv(t *testing.T) (*daemonEnv, *etcdstore.Store, string, string) {
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
	host := strings.TrimPrefix(etcd.Endpoint(0), "http://")
	table := fmt.Sprintf("\n[storage]\nendpoints = [%q]\nprefix = \"fleet\"\n", host)
	return e, s, table, "etcd://" + host + "/fleet"
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
	e, s, table, _ := fleetEnv(t)
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
