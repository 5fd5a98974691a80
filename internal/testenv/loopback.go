package testenv

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// loopbackTries bounds the search for a free address; with 16 million
// candidates a collision streak this long means something else is wrong.
const loopbackTries = 50

// LoopbackAddr adds a fresh 127.x.y.z/32 to the lo interface and removes it
// when the test ends. Test servers bind port 53 on it, the port real
// resolvers and CAs use.
//
// Parallel test processes cannot collide: the kernel refuses to add an
// address that is already configured ("File exists"), so the first process to
// add a candidate owns it and the others pick again. 127.0.0.0/16 is left
// alone because system services use it. Needs root.
func LoopbackAddr(t testing.TB) netip.Addr {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("testenv: adding a loopback address needs root (ip addr add ... dev lo); run the tests as root, as `make test` in CI does")
	}
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("testenv: the ip command (iproute2) is required: %v", err)
	}
	for range loopbackTries {
		addr := netip.AddrFrom4([4]byte{127, byte(1 + rand.IntN(254)), byte(rand.IntN(256)), byte(1 + rand.IntN(254))})
		out, err := exec.Command(ipPath, "addr", "add", addr.String()+"/32", "dev", "lo").CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "File exists") {
				continue
			}
			t.Fatalf("testenv: ip addr add %s/32 dev lo: %v: %s", addr, err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command(ipPath, "addr", "del", addr.String()+"/32", "dev", "lo").CombinedOutput(); err != nil {
				t.Errorf("testenv: ip addr del %s/32 dev lo: %v: %s", addr, err, out)
			}
		})
		return addr
	}
	t.Fatal(fmt.Sprintf("testenv: no free loopback address after %d tries", loopbackTries))
	return netip.Addr{}
}
