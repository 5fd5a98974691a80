package etcdstore

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// An endpoint that accepts connections and never answers, as a member
// caught mid-election can look: every request still ends, with an error,
// although the caller's ctx has no deadline (a daemon's lifetime).
func TestRequestsEndOnASilentCluster(t *testing.T) {
	ln, err := net.Listen("tcp", net.JoinHostPort(testenv.LoopbackAddr(t).String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn // accepted, never answered
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	s, err := New(Options{Endpoints: []string{ln.Addr().String()}, Prefix: "silent", Keys: [][]byte{testKey(t)},
		RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background() // no deadline: the store's own must end each call
	calls := map[string]func() error{
		"Get":     func() error { _, err := s.Get(ctx, "a"); return err },
		"Put":     func() error { return s.Put(ctx, "a", []byte("x"), false) },
		"List":    func() error { _, err := s.List(ctx, "live"); return err },
		"TryLock": func() error { _, err := s.TryLock(ctx, "n", time.Minute); return err },
	}
	for name, call := range calls {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s on a silent cluster succeeded", name)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s on a silent cluster did not end within 15 s", name)
		}
	}
}
