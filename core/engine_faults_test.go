package core

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/internal/faultproxy"
	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
)

// failingStore fails the nth Put under journal/ (1-based) and counts them.
type failingStore struct {
	storage.Storage
	failAt int32
	puts   atomic.Int32
}

func (s *failingStore) Put(ctx context.Context, key string, value []byte, private bool) error {
	if strings.HasPrefix(key, storage.JournalDir+"/") && s.puts.Add(1) == s.failAt {
		return errors.New("disk full")
	}
	return s.Storage.Put(ctx, key, value, private)
}

func (e *engineEnv) engineWith(t *testing.T, store storage.Storage, prov plugin.Provider, obs progress.Observer) *Engine {
	t.Helper()
	eng, err := New(Config{Storage: store, Provider: prov, HTTPClient: e.pebble.HTTPClient, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func (e *engineEnv) journal(t *testing.T) []string {
	t.Helper()
	names, err := e.store.List(t.Context(), storage.JournalDir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func (e *engineEnv) noLive(t *testing.T) {
	t.Helper()
	names, err := e.store.List(t.Context(), storage.LiveDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Errorf("live/ = %v after a failed order", names)
	}
}

// The rule "never publish an unjournaled record": a journal write failing
// before Present stops the order before the provider is called; one
// failing after Present (the cleanup state) still removes the record.
func TestObtainJournalWriteFails(t *testing.T) {
	env := startEngineEnv(t)
	ctx := t.Context()

	before := &failingStore{Storage: env.store, failAt: 1}
	_, err := env.engineWith(t, before, env.prov, nil).Obtain(ctx, env.request("jbefore.engine.test"))
	if err == nil || !strings.Contains(err.Error(), "journaling") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the journal failure", err)
	}
	if env.prov.presents != 0 {
		t.Errorf("Present called %d times although the journal write failed", env.prov.presents)
	}
	env.noLive(t)

	after := &failingStore{Storage: env.store, failAt: 2} // the write with State
	_, err = env.engineWith(t, after, env.prov, nil).Obtain(ctx, env.request("jafter.engine.test"))
	if err == nil || !strings.Contains(err.Error(), "cleanup state") {
		t.Fatalf("err = %v, want the failure to journal the cleanup state", err)
	}
	if env.prov.presents != 1 || env.prov.records() != 0 {
		t.Errorf("presents %d, records left %d; want 1 and 0", env.prov.presents, env.prov.records())
	}
	if j := env.journal(t); len(j) != 0 {
		t.Errorf("journal = %v after cleanup", j)
	}
	env.noLive(t)
}

// sloppyCleanUp answers CleanUp with an error for the first record and no
// result at all for the others, removing nothing.
type sloppyCleanUp struct {
	*zoneProvider
	on atomic.Bool
}

func (p *sloppyCleanUp) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	if !p.on.Load() {
		return p.zoneProvider.CleanUp(ctx, recs)
	}
	return []plugin.Result{{ID: recs[0].ID, Err: plugin.Errorf(plugin.CodeConflict, false, "record changed")}}, nil
}

// Per-record cleanup errors and missing results are reported, each record
// stays journaled, and the next order's recovery removes them.
func TestObtainCleanupPerRecordErrors(t *testing.T) {
	env := startEngineEnv(t)
	ctx := t.Context()
	prov := &sloppyCleanUp{zoneProvider: env.prov}
	prov.on.Store(true)
	res, err := env.engineWith(t, env.store, prov, nil).Obtain(ctx, env.request("*.sloppy.engine.test", "sloppy.engine.test"))
	if err != nil {
		t.Fatal(err)
	}
	msg := errors.Join(res.CleanupErrors...).Error()
	if !strings.Contains(msg, "record changed") || !strings.Contains(msg, "returned no result") {
		t.Errorf("CleanupErrors = %q, want the per-record error and the missing result", msg)
	}
	if j := env.journal(t); len(j) != 2 || env.prov.records() != 2 {
		t.Fatalf("journal %v, records %d; want both kept", j, env.prov.records())
	}
	prov.on.Store(false)
	if _, err := env.engineWith(t, env.store, prov, nil).Obtain(ctx, env.request("next.engine.test")); err != nil {
		t.Fatal(err)
	}
	if j := env.journal(t); len(j) != 0 || env.prov.records() != 0 {
		t.Errorf("after recovery: journal %v, records %d", j, env.prov.records())
	}
}

// Recovery drops a corrupt entry, and a recovery whose cleanup fails again
// keeps the entry, reports it, and does not fail the order.
func TestObtainRecoveryCorruptAndFailingAgain(t *testing.T) {
	env := startEngineEnv(t)
	ctx := t.Context()
	if err := env.store.Put(ctx, storage.JournalKey("corrupt1"), []byte(`{"v":1,"record":`), true); err != nil {
		t.Fatal(err)
	}
	env.prov.failCleanUp = true
	res, err := env.engine(t, nil).Obtain(ctx, env.request("r1.engine.test"))
	if err != nil {
		t.Fatal(err)
	}
	j := env.journal(t)
	if len(j) != 1 || j[0] == "corrupt1" {
		t.Fatalf("journal = %v, want the corrupt entry gone and this order's entry kept", j)
	}
	if len(res.CleanupErrors) != 1 {
		t.Errorf("CleanupErrors = %v", res.CleanupErrors)
	}
	// The provider still fails: the next order's recovery fails again.
	res, err = env.engine(t, nil).Obtain(ctx, env.request("r2.engine.test"))
	if err != nil {
		t.Fatal(err)
	}
	msg := errors.Join(res.CleanupErrors...).Error()
	if !strings.Contains(msg, "earlier run") || !strings.Contains(msg, "API down") {
		t.Errorf("CleanupErrors = %q, want the failed recovery", msg)
	}
	if j := env.journal(t); len(j) != 2 {
		t.Errorf("journal = %v, want both entries kept", j)
	}
	env.prov.failCleanUp = false
	if _, err := env.engine(t, nil).Obtain(ctx, env.request("r3.engine.test")); err != nil {
		t.Fatal(err)
	}
	if j := env.journal(t); len(j) != 0 || env.prov.records() != 0 {
		t.Errorf("journal %v, records %d after the provider recovered", j, env.prov.records())
	}
}

// wrongValue publishes a value the CA does not expect.
type wrongValue struct{ *zoneProvider }

func (p wrongValue) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	bad := make([]plugin.Record, len(recs))
	for i, r := range recs {
		r.Value = "wrong-" + r.Value
		bad[i] = r
	}
	return p.zoneProvider.Present(ctx, bad)
}

// The CA rejecting a challenge, seen from the engine: KindCA naming the
// identifier, the invalid stage reported, records removed, nothing stored.
func TestObtainChallengeRejected(t *testing.T) {
	env := startEngineEnv(t)
	ctx := t.Context()
	var mu sync.Mutex
	var invalid []string
	obs := progress.ObserverFunc(func(_ context.Context, ev progress.Event) {
		if ev.Stage == progress.Invalid {
			mu.Lock()
			invalid = append(invalid, ev.Identifier)
			mu.Unlock()
		}
	})
	req := env.request("rejected.engine.test")
	req.Wait = -1 // the wrong value is what the CA must see, not a wait timeout
	_, err := env.engineWith(t, env.store, wrongValue{env.prov}, obs).Obtain(ctx, req)
	if KindOf(err) != KindCA || !strings.Contains(err.Error(), "rejected.engine.test") {
		t.Fatalf("err = %v (kind %v), want a CA error naming the identifier", err, KindOf(err))
	}
	if len(invalid) != 1 || invalid[0] != "rejected.engine.test" {
		t.Errorf("invalid events %v", invalid)
	}
	// Cleanup removes exactly what was journaled (the right value); the
	// provider's wrong copy is its own bug, so count the journal only.
	if j := env.journal(t); len(j) != 0 {
		t.Errorf("journal = %v", j)
	}
	env.noLive(t)
}

func selfSigned(t *testing.T, key *ecdsa.PrivateKey, names ...string) acme.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "leaf"}, DNSNames: names,
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return acme.Certificate{Chain: []*x509.Certificate{c}}
}

// The leaf check refuses a certificate for another key or lacking a name.
func TestCheckLeaf(t *testing.T) {
	t.Parallel()
	ours, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	theirs, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	names := []string{"*.example.com", "example.com"}
	if err := checkLeaf(selfSigned(t, ours, names...), ours, names); err != nil {
		t.Errorf("a good leaf: %v", err)
	}
	for name, tc := range map[string]struct {
		chain acme.Certificate
		want  string
	}{
		"wrong key":    {selfSigned(t, theirs, names...), "not for our key"},
		"missing name": {selfSigned(t, ours, "example.com"), "lacks *.example.com"},
		"no leaf":      {acme.Certificate{}, "no certificate"},
	} {
		if err := checkLeaf(tc.chain, ours, names); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
}

// Finalize and download errors (the CA failing at that step every time,
// through a fault proxy in front of Pebble): KindCA naming the step, the
// records removed, nothing stored.
func TestObtainFinalizeAndDownloadErrors(t *testing.T) {
	env := startEngineEnv(t)
	for _, tc := range []struct{ step, want string }{
		{"finalize", "finalizing order"},
		{"certificate", "downloading certificate"},
	} {
		t.Run(tc.step, func(t *testing.T) {
			px, err := faultproxy.Start(env.pebble.DirectoryURL, env.pebble.HTTPClient.Transport,
				faultproxy.Fault{Step: tc.step, Kind: faultproxy.Status500, Times: 1000})
			if err != nil {
				t.Fatal(err)
			}
			defer px.Close()
			eng, err := New(Config{Storage: env.store, Provider: env.prov, HTTPClient: px.Client()})
			if err != nil {
				t.Fatal(err)
			}
			req := env.request(tc.step + ".engine.test")
			req.DirectoryURL = px.DirectoryURL
			_, err = eng.Obtain(t.Context(), req)
			if KindOf(err) != KindCA || !strings.Contains(err.Error(), tc.want) || px.Fired() == 0 {
				t.Fatalf("err = %v (kind %v, %d faults), want a CA error %q", err, KindOf(err), px.Fired(), tc.want)
			}
			if j := env.journal(t); len(j) != 0 || env.prov.records() != 0 {
				t.Errorf("journal %v, records %d", j, env.prov.records())
			}
			env.noLive(t)
		})
	}
}

// A stored account the CA no longer knows is replaced by a new one.
func TestObtainStoredAccountUnknown(t *testing.T) {
	env := startEngineEnv(t)
	ctx := t.Context()
	if _, err := env.engine(t, nil).Obtain(ctx, env.request("acct1.engine.test")); err != nil {
		t.Fatal(err)
	}
	cas, err := env.store.List(ctx, storage.AccountsDir)
	if err != nil || len(cas) != 1 {
		t.Fatalf("accounts: %v, %v", cas, err)
	}
	ids, err := env.store.List(ctx, storage.CAKey(cas[0]))
	if err != nil || len(ids) != 1 {
		t.Fatalf("account ids: %v, %v", ids, err)
	}
	// A key the CA never saw stands for an account it forgot.
	key, _ := acme.GenerateKey(acme.KeyECDSAP256)
	kb, err := encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.store.Put(ctx, path.Join(storage.AccountKey(cas[0], ids[0]), storage.AccountKeyFile), kb, true); err != nil {
		t.Fatal(err)
	}
	var registered bool
	obs := progress.ObserverFunc(func(_ context.Context, ev progress.Event) {
		if ev.Stage == progress.Account && strings.HasPrefix(ev.Detail, "registered") {
			registered = true
		}
	})
	if _, err := env.engine(t, obs).Obtain(ctx, env.request("acct2.engine.test")); err != nil {
		t.Fatal(err)
	}
	if ids, _ := env.store.List(ctx, storage.CAKey(cas[0])); len(ids) != 2 || !registered {
		t.Errorf("accounts %v, registered %v; want a new account beside the forgotten one", ids, registered)
	}
}

// Refusals when registering: no agreement to the terms of service, no EAB
// where the CA requires one, and an EAB the CA rejects. Nothing is stored.
func TestObtainRegistrationRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Pebble")
	}
	prov := startZoneProvider(t, "engine.test")
	hmac := base64.RawURLEncoding.EncodeToString([]byte("a-secret-mac-key-of-32-bytes-ok!"))
	pebble := testenv.StartPebble(t, testenv.PebbleOptions{DNSServer: prov.addr, EAB: map[string]string{"kid-1": hmac}})
	env := &engineEnv{prov: prov, pebble: pebble}
	for _, tc := range []struct {
		name string
		mod  func(*Request)
		kind ErrorKind
		want string
	}{
		{"terms not agreed", func(r *Request) { r.AgreeTOS = false }, KindInput, "terms of service"},
		{"no EAB", func(r *Request) {}, KindInput, "External Account Binding"},
		{"wrong EAB key", func(r *Request) { r.EAB = &EAB{KID: "kid-1", HMAC: []byte("not-the-key-the-CA-issued-at-all")} }, KindCA, "registering account"},
		{"unknown EAB kid", func(r *Request) { r.EAB = &EAB{KID: "kid-9", HMAC: []byte("a-secret-mac-key-of-32-bytes-ok!")} }, KindCA, "registering account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, err := storage.NewFS(t.TempDir() + "/state")
			if err != nil {
				t.Fatal(err)
			}
			env.store = store
			req := env.request("reg.engine.test")
			tc.mod(&req)
			_, err = env.engineWith(t, store, prov, nil).Obtain(t.Context(), req)
			if KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (kind %v), want kind %v and %q", err, KindOf(err), tc.kind, tc.want)
			}
			if ids, err := store.List(t.Context(), storage.AccountsDir); err != nil || len(ids) != 0 {
				t.Errorf("accounts stored: %v, %v", ids, err)
			}
			if prov.presents != 0 {
				t.Errorf("a record was presented for a refused registration")
			}
		})
	}
	// The right EAB registers.
	store, _ := storage.NewFS(t.TempDir() + "/state")
	env.store = store
	req := env.request("reg.engine.test")
	req.EAB = &EAB{KID: "kid-1", HMAC: []byte("a-secret-mac-key-of-32-bytes-ok!")}
	if _, err := env.engineWith(t, store, prov, nil).Obtain(t.Context(), req); err != nil {
		t.Errorf("with the right EAB: %v", err)
	}
}
