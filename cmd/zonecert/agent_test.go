package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/core/storage/etcdstore"
	"github.com/zonecert/zonecert/internal/testenv"
)

// etcdWaitFor polls cond until it holds or ctx ends (the test's own deadline).
func etcdWaitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// The agent writes a certificate it watches as soon as it is stored, runs
// the deploy hook, keeps the last good files while etcd is down (started
// then too), and catches up once etcd is back.
func TestAgentFollowsEtcd(t *testing.T) {
	e := testenv.StartEtcd(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyFile := filepath.Join(dir, "storage.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	writer, err := etcdstore.New(etcdstore.Options{Endpoints: e.Endpoints(), Prefix: "fleet", Keys: [][]byte{key}})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	hookLog := filepath.Join(dir, "hook.log")
	hook := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho \"$RENEWED_LINEAGE|$RENEWED_DOMAINS\" >> "+hookLog+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(dir, "local")
	url := "etcd://" + strings.TrimPrefix(e.Endpoint(0), "http://") + "/fleet"
	startAgent := func() (stop func()) {
		actx, acancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		en, _, _ := testEnv(map[string]string{"ZONECERT_STORAGE_KEY_FILE": keyFile, "PATH": os.Getenv("PATH")})
		go func() {
			done <- run(actx, []string{"agent", "--storage", url, "--cert-name", "a.test", "--path", local, "--deploy-hook", hook}, en)
		}()
		return func() {
			acancel()
			if err := <-done; err != nil {
				t.Errorf("agent: %v", err)
			}
		}
	}
	hookRuns := func() []string {
		b, _ := os.ReadFile(hookLog)
		return strings.Fields(string(b))
	}
	localCert := func() []byte {
		b, _ := os.ReadFile(filepath.Join(local, "live", "a.test", "cert.pem"))
		return b
	}
	stored := func() []byte {
		b, err := writer.Get(ctx, storage.LiveFileKey("a.test", storage.CertFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	stop := startAgent()
	seedEtcdLineage(t, writer, "a.test")
	first := stored()
	etcdWaitFor(ctx, t, "the first certificate and its hook", func() bool { return bytes.Equal(localCert(), first) && len(hookRuns()) == 1 })
	if got, want := hookRuns()[0], filepath.Join(local, "live", "a.test")+"|a.test"; got != want {
		t.Errorf("hook saw %q, want %q", got, want)
	}
	if fi, err := os.Stat(filepath.Join(local, "live", "a.test", "privkey.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("privkey.pem: %v, %v; want 0600", fi, err)
	}
	seedEtcdLineage(t, writer, "a.test") // a renewal
	renewed := time.Now()
	second := stored()
	etcdWaitFor(ctx, t, "the renewed certificate", func() bool { return bytes.Equal(localCert(), second) && len(hookRuns()) == 2 })
	t.Logf("renewal on disk with its hook run %v after it was stored (20 ms polling)", time.Since(renewed).Round(time.Millisecond))
	stop()

	// Missed while the agent was down, then etcd goes down too.
	seedEtcdLineage(t, writer, "a.test")
	third := stored()
	e.Kill(0)
	stop = startAgent()
	defer func() { stop() }()
	select {
	case <-ctx.Done():
	case <-time.After(time.Second): // the agent runs against a dead etcd a while
	}
	if !bytes.Equal(localCert(), second) {
		t.Fatal("the agent lost the last good files while etcd was down")
	}
	if err := e.Restart(ctx, 0); err != nil {
		t.Fatal(err)
	}
	etcdWaitFor(ctx, t, "the catch-up after etcd came back", func() bool { return bytes.Equal(localCert(), third) && len(hookRuns()) == 3 })
}
