package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/zonecert/zonecert/plugin/host"
)

// TestPluginEnvironmentIsolated reads the running plugin's environment and
// arguments from /proc, as another local user could: it holds the variables
// its metadata declares and nothing else of the host's, and the token is in
// neither its arguments nor any undeclared variable.
func TestPluginEnvironmentIsolated(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	f := startFakeAPI(t, testZone, testToken)
	path := filepath.Join(pluginDir, "zonecert-dns-exampledns")
	c, err := host.Start(t.Context(), hostConfig(f, path, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()

	pids := children(t, path)
	if len(pids) == 0 {
		t.Fatal("no running plugin process found under this test")
	}
	for _, pid := range pids {
		environ, err := os.ReadFile("/proc/" + pid + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if k, v, ok := strings.Cut(string(kv), "="); ok {
				env[k] = v
			}
		}
		if env["EXAMPLEDNS_TOKEN"] != testToken {
			t.Errorf("plugin %s: the declared EXAMPLEDNS_TOKEN did not reach it", pid)
		}
		if _, ok := env["UNRELATED_SECRET"]; ok {
			t.Errorf("plugin %s: an undeclared host variable reached it", pid)
		}
		for k, v := range env {
			if strings.Contains(v, testToken) && k != "EXAMPLEDNS_TOKEN" {
				t.Errorf("plugin %s: the token is in the undeclared variable %s", pid, k)
			}
		}
		if bytes.Contains(cmdline, []byte(testToken)) {
			t.Errorf("plugin %s: the token is in its arguments", pid)
		}
	}
}

// children returns the pids of this process's children running exe.
func children(t *testing.T, exe string) []string {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	var out []string
	for _, d := range dirs {
		pid := d.Name()
		if _, err := strconv.Atoi(pid); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 || fields[1] != self {
			continue
		}
		if target, err := os.Readlink("/proc/" + pid + "/exe"); err == nil && target == exe {
			out = append(out, pid)
		}
	}
	return out
}
