package etcdstore

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/internal/testenv"
)

// The read-only role README.md ("Running a fleet") documents: an agent's
// user reads its prefix and nothing else, and writes nothing.
func TestReadOnlyAgentCredentials(t *testing.T) {
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	key := testKey(t)
	admin := newStore(t, e, Options{Prefix: "fleet-a", Keys: [][]byte{key}})
	other := newStore(t, e, Options{Prefix: "fleet-b", Keys: [][]byte{key}})
	if err := admin.Put(ctx, "renewal/a.json", []byte("{}"), false); err != nil {
		t.Fatal(err)
	}
	if err := other.Put(ctx, "renewal/b.json", []byte("{}"), false); err != nil {
		t.Fatal(err)
	}
	c := admin.Client()
	steps := []func() error{
		func() error { _, err := c.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := c.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := c.RoleAdd(ctx, "zonecert-agent-fleet-a"); return err },
		func() error {
			_, err := c.RoleGrantPermission(ctx, "zonecert-agent-fleet-a", "/fleet-a/", clientv3.GetPrefixRangeEnd("/fleet-a/"), clientv3.PermissionType(clientv3.PermRead))
			return err
		},
		func() error { _, err := c.UserAdd(ctx, "agent", "agentpw"); return err },
		func() error { _, err := c.UserGrantRole(ctx, "agent", "zonecert-agent-fleet-a"); return err },
		func() error { _, err := c.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("RBAC step %d: %v", i, err)
		}
	}
	agent := newStore(t, e, Options{Prefix: "fleet-a", Keys: [][]byte{key}, Username: "agent", Password: "agentpw"})
	if _, err := agent.Get(ctx, "renewal/a.json"); err != nil {
		t.Fatalf("agent reading its prefix: %v", err)
	}
	if err := agent.Put(ctx, "renewal/a.json", []byte("x"), false); err == nil {
		t.Error("agent wrote under its prefix")
	}
	if l, err := agent.TryLock(ctx, "cert-a", time.Minute); err == nil || errors.Is(err, storage.ErrLocked) {
		if l != nil {
			_ = l.Release(ctx)
		}
		t.Errorf("agent TryLock = %v, want a permission error", err)
	}
	agentB := newStore(t, e, Options{Prefix: "fleet-b", Keys: [][]byte{key}, Username: "agent", Password: "agentpw"})
	if _, err := agentB.Get(ctx, "renewal/b.json"); err == nil {
		t.Error("agent read another prefix")
	}
	if bad, err := New(Options{Endpoints: e.Endpoints(), Prefix: "fleet-a", Username: "agent", Password: "wrong"}); err == nil {
		_ = bad.Close()
		t.Error("a wrong password connected")
	}
}
