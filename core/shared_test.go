package core

import (
	"fmt"
	"sync"
	"testing"

	"github.com/zonecert/zonecert/core/storage"
)

// Five orders started at once with no account yet register one account
// between them, and share one ACME client (Config.ACME).
func TestConcurrentOrdersRegisterOneAccount(t *testing.T) {
	env := startEngineEnv(t)
	client, err := NewACMEClient(Config{HTTPClient: env.pebble.HTTPClient}, env.pebble.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 5)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			eng, err := New(Config{Storage: env.store, Provider: env.prov, HTTPClient: env.pebble.HTTPClient, ACME: client})
			if err == nil {
				_, err = eng.Obtain(t.Context(), env.request(fmt.Sprintf("o%d.engine.test", i)))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	accts, err := env.store.List(t.Context(), storage.CAKey(caKey(env.pebble.DirectoryURL)))
	if err != nil || len(accts) != 1 {
		t.Errorf("accounts %v (%v), want one", accts, err)
	}
}
