package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// updateCounter is a DNS-over-TCP relay in front of the BIND primary that
// counts the UPDATE messages passing through, and can hold one so that a
// test acts while a provider call is in flight.
type updateCounter struct {
	addr     string
	upstream string
	updates  atomic.Int32

	mu   sync.Mutex
	hold chan struct{} // non-nil: the next UPDATE signals held and waits on it
	held chan struct{}
}

func startUpdateCounter(t testing.TB, upstream netip.AddrPort) *updateCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u := &updateCounter{addr: ln.Addr().String(), upstream: upstream.String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.relay(c)
		}
	}()
	return u
}

// holdNext makes the next UPDATE wait until release is closed; held is
// closed when it arrives.
func (u *updateCounter) holdNext() (held, release chan struct{}) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.held, u.hold = make(chan struct{}), make(chan struct{})
	return u.held, u.hold
}

func (u *updateCounter) relay(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", u.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(c, up) }()
	for {
		var n uint16
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		var m dns.Msg
		if m.Unpack(msg) == nil && m.Opcode == dns.OpcodeUpdate {
			u.updates.Add(1)
			u.mu.Lock()
			held, hold := u.held, u.hold
			u.held, u.hold = nil, nil
			u.mu.Unlock()
			if hold != nil {
				close(held)
				<-hold
			}
		}
		if err := binary.Write(up, binary.BigEndian, n); err != nil {
			return
		}
		if _, err := up.Write(msg); err != nil {
			return
		}
	}
}

// installTestPlugin builds plugin/internal/testplugin into the daemon's
// plugin directory as zonecert-dns-testplug and returns its path.
func installTestPlugin(t *testing.T, e *daemonEnv) string {
	t.Helper()
	bin := filepath.Join(e.plugins, "zonecert-dns-testplug")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/zonecert/zonecert/plugin/internal/testplugin")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test plugin: %v\n%s", err, b)
	}
	return bin
}

// stormConfig is a daemon configuration with one provider instance
// ("alpha") given as a TOML table body, and one certificate of one name
// per entry of names, all on that instance.
func (e *daemonEnv) stormConfig(t *testing.T, provider string, names []string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `state = %q
[acme]
server = %q
ca_bundle = %q
email = "storm@example.com"
agree_tos = true
[dns]
resolvers = [%q]
propagation_timeout = "60s"
[daemon]
check_interval = "1h"
jitter = "0s"
max_concurrent = %d
retry_min = "1s"
retry_max = "4s"
stop_timeout = "30s"
[providers.alpha]
%s
`, filepath.Join(e.dir, "state"), e.pebble.DirectoryURL, e.bundle, e.bind.Primary.String(), len(names), provider)
	for i, n := range names {
		fmt.Fprintf(&b, "[[certificate]]\nname = \"c%d\"\ndomains = [%q]\nprovider = \"alpha\"\n", i, n)
	}
	path := filepath.Join(e.dir, "storm.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
