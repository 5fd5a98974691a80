package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

// hardenHostEnv makes the test binary a plugin host (see TestMain): it
// hardens itself unless $ZONECERT_TEST_HARDEN is 0, starts the test plugin
// at $ZONECERT_TEST_PLUGIN, has it try to read the host's environ, and
// prints what it got and the host's core limit.
const hardenHostEnv = "ZONECERT_TEST_HARDEN_HOST"

func hardenHost() {
	if os.Getenv("ZONECERT_TEST_HARDEN") != "0" {
		if err := harden(); err != nil {
			fmt.Println("harden:", err)
			os.Exit(1)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := host.Start(ctx, host.Config{Name: "testplug", Path: os.Getenv("ZONECERT_TEST_PLUGIN"), LookupEnv: os.LookupEnv})
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(1)
	}
	defer c.Close()
	res, err := c.Present(ctx, []plugin.Record{{ID: "1", FQDN: "a.example.test.", Value: "parentenv"}})
	if err != nil {
		fmt.Println("present:", err)
		os.Exit(1)
	}
	var rl unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_CORE, &rl)
	fmt.Printf("environ=%s\ncore=%d\n", res[0].State, rl.Max)
}

// TestPluginCannotReadHostEnviron: a plugin running as the host's user
// tries to read its parent's /proc/<ppid>/environ (where ZONECERT_EAB_HMAC
// and provider secrets live) and fails, because zonecert made itself
// non-dumpable; without the hardening the same read succeeds, so the test
// can fail. As root, host and plugin run as nobody without capabilities:
// root reads any process's memory (out of scope: root on the same host).
func TestPluginCannotReadHostEnviron(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: builds the test plugin")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // nobody runs what is in it
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "zonecert-dns-testplug")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/zonecert/zonecert/plugin/internal/testplugin")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test plugin: %v\n%s", err, b)
	}
	args := []string{os.Args[0]}
	if os.Geteuid() == 0 {
		sp, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("running as root and no setpriv to become nobody")
		}
		self, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		args = []string{sp, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--",
			filepath.Join(dir, "host.test")}
		if err := os.WriteFile(args[len(args)-1], self, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hostRun := func(harden string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = []string{hardenHostEnv + "=1", "ZONECERT_TEST_HARDEN=" + harden, "ZONECERT_TEST_PLUGIN=" + bin,
			"PATH=" + os.Getenv("PATH"), "ZONECERT_EAB_HMAC=host-secret"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("host (harden=%s): %v\n%s", harden, err, out)
		}
		return string(out)
	}
	out := hostRun("1")
	if !strings.Contains(out, "environ=error:") || !strings.Contains(out, "core=0") {
		t.Errorf("hardened host: %s; want the plugin's read refused and no core limit", out)
	}
	if out := hostRun("0"); !strings.Contains(out, "environ=read") {
		t.Errorf("host without hardening: %s; the plugin should read its environ (else this test proves nothing)", out)
	}
}
