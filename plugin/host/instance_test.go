package host

import (
	"strings"
	"testing"
	"time"
)

// TestManagerOneProcessPerInstance: two instances of one plugin (the
// daemon's named providers, each with its own settings) are two processes;
// the same instance again is the same one.
func TestManagerOneProcessPerInstance(t *testing.T) {
	t.Parallel()
	m := NewManager(nil)
	a := Config{Name: testName, Instance: "a", Path: testBin, LookupEnv: testEnv()}
	b := a
	b.Instance = "b"
	ca, err := m.Get(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := m.Get(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.Get(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	if ca == cb || ca.pid() == cb.pid() {
		t.Fatal("two instances share one plugin process")
	}
	if again != ca {
		t.Fatal("one instance got a second process")
	}
	pa, pb := ca.pid(), cb.pid()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pa, 5*time.Second)
	waitGone(t, pb, 5*time.Second)
}

// TestInspect finds, verifies and describes a plugin without starting it.
func TestInspect(t *testing.T) {
	t.Parallel()
	meta, err := Inspect(t.Context(), Config{Name: testName, Path: testBin, LookupEnv: testEnv()})
	if err != nil || meta.Name != testName {
		t.Fatalf("Inspect = %+v, %v", meta, err)
	}
	if _, err := Inspect(t.Context(), Config{Name: testName, Path: testBin, SHA256: strings.Repeat("0", 64)}); err == nil {
		t.Fatal("Inspect ran a binary that does not match its pin")
	}
}
