package host

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testBin is the built test plugin, zonecert-dns-testplug.
var testBin string

const testName = "testplug"

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == BinaryPrefix+v2OnlyName {
		serveV2Only()
		return
	}
	if mode := os.Getenv("ZONECERT_TEST_HOST_HELPER"); mode != "" {
		hostHelper(mode)
		return
	}
	dir, err := os.MkdirTemp("", "zonecert-host-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBin = filepath.Join(dir, BinaryPrefix+testName)
	build := exec.Command("go", "build", "-o", testBin, "github.com/zonecert/zonecert/plugin/internal/testplugin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building test plugin:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hostHelper is a host process for the orphan test: it starts the plugin,
// prints its pid and waits to be killed.
func hostHelper(mode string) {
	c, err := Start(context.Background(), Config{
		Name:        testName,
		Path:        os.Getenv("ZONECERT_TEST_PLUGIN"),
		LookupEnv:   os.LookupEnv,
		noPdeathsig: mode == "watchdog",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	fmt.Println(c.pid())
	select {} // until SIGKILL
}

// testEnv is a host environment for LookupEnv.
func testEnv(kv ...string) func(string) (string, bool) {
	m := map[string]string{"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME")}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func startTest(t testing.TB, cfg Config) *Client {
	t.Helper()
	cfg.Name = testName
	if cfg.Path == "" {
		cfg.Path = testBin
	}
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = testEnv()
	}
	c, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
			t.Fatalf("plugin pid %d still running %v after its host died", pid, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOrphanAfterHostSIGKILL(t *testing.T) {
	t.Parallel()
	// pdeathsig: the kernel kills the plugin; watchdog: the SDK's parent
	// watchdog alone must do it.
	for _, mode := range []string{"pdeathsig", "watchdog"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			self, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(self, "-test.run=^$")
			cmd.Env = append(os.Environ(), "ZONECERT_TEST_HOST_HELPER="+mode, "ZONECERT_TEST_PLUGIN="+testBin)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				t.Fatalf("reading plugin pid from helper: %v", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil || pid <= 0 {
				t.Fatalf("helper printed %q, want a pid", line)
			}
			if processGone(pid) {
				t.Fatalf("plugin pid %d not running while its host is alive", pid)
			}
			killed := time.Now()
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			waitGone(t, pid, 5*time.Second)
			t.Logf("plugin gone %v after its host was killed", time.Since(killed))
		})
	}
}
