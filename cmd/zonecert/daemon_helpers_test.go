package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
)

// daemonEnv is BIND serving alpha.test (updated with the default TSIG key)
// and beta.test (only with a second key, beta-key.), Pebble validating
// against it, and a plugin directory of this test's own, so that plugin
// processes left behind can be found by their executable.
type daemonEnv struct {
	*e2eEnv
	plugins string // directory with a private copy of zonecert-dns-rfc2136
	dir     string
	env     []string // more variables for the daemons (fleet tests)
}

const betaKey = "beta-key."

func startDaemonEnv(t *testing.T) *daemonEnv {
	t.Helper()
	e := startE2E(t, testenv.BINDConfig{
		ExtraKeys: []string{betaKey},
		Zones: []testenv.Zone{
			{Name: "alpha.test"},
			{Name: "beta.test", UpdatePolicy: "grant " + betaKey + " zonesub TXT;"},
		},
	})
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	if err := os.MkdirAll(plugins, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(e.bin, "zonecert-dns-rfc2136"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "zonecert-dns-rfc2136"), b, 0o700); err != nil {
		t.Fatal(err)
	}
	return &daemonEnv{e2eEnv: e, plugins: plugins, dir: dir}
}

// daemonCert is one [[certificate]] of a test config.
type daemonCert struct {
	Name     string
	Domains  []string
	Provider string
	Zones    map[string]string
}

// TOML renders the certificate's table.
func (c daemonCert) TOML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[[certificate]]\nname = %q\ndomains = [", c.Name)
	for i, d := range c.Domains {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", d)
	}
	b.WriteString("]\n")
	if c.Provider != "" {
		fmt.Fprintf(&b, "provider = %q\n", c.Provider)
	} else {
		b.WriteString("providers = {")
		first := true
		for z, p := range c.Zones {
			if !first {
				b.WriteString(",")
			}
			first = false
			fmt.Fprintf(&b, " %q = %q", z, p)
		}
		b.WriteString(" }\n")
	}
	return b.String()
}

var daemonConfig = template.Must(template.New("cfg").Parse(`state = "{{.State}}"
[acme]
server = "{{.Server}}"
ca_bundle = "{{.Bundle}}"
email = "daemon@example.com"
agree_tos = true
[dns]
resolvers = ["{{.Resolver}}"]
propagation_timeout = "30s"
wait = "{{.Wait}}"
[daemon]
check_interval = "1h"
jitter = "0s"
max_concurrent = 3
retry_min = "1s"
retry_max = "4s"
stop_timeout = "30s"
[hooks]
deploy_hook = "echo \"$ZONECERT_CERT_NAME\" >> {{.Deployed}}"
[providers.alpha]
plugin = "rfc2136"
settings = { nameserver = "{{.NS}}", tsig_key = "zonecert-test.", tsig_secret = "${ALPHA_TSIG_SECRET}" }
[providers.beta]
plugin = "rfc2136"
settings = { nameserver = "{{.NS}}", tsig_key = "` + betaKey + `", tsig_secret = "file:{{.BetaSecret}}" }
{{range .Certs}}
{{.TOML}}{{end}}`))

// writeConfig writes the config (0600, atomically) and returns its path.
func (e *daemonEnv) writeConfig(t *testing.T, wait string, certs []daemonCert, extra string) string {
	t.Helper()
	return e.writeConfigVia(t, "zonecert.toml", acmeVia{e.pebble.DirectoryURL, e.bundle}, wait, certs, extra)
}

// acmeVia is the directory a config orders from and the CA bundle that
// trusts it: Pebble, or a faultproxy in front of it.
type acmeVia struct{ server, bundle string }

// writeConfigVia is writeConfig at file (in the test's directory), ordering
// through via.
func (e *daemonEnv) writeConfigVia(t *testing.T, file string, via acmeVia, wait string, certs []daemonCert, extra string) string {
	t.Helper()
	secret := filepath.Join(e.dir, "beta.secret")
	if err := os.WriteFile(secret, []byte(e.bind.ExtraKeys[betaKey]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	err := daemonConfig.Execute(&b, map[string]any{
		"State": filepath.Join(e.dir, "state"), "Server": via.server, "Bundle": via.bundle,
		"Resolver": e.bind.Primary.String(), "NS": netip.AddrPortFrom(e.bind.Primary, 53).String(),
		"BetaSecret": secret, "Deployed": filepath.Join(e.dir, "deployed"), "Certs": certs, "Wait": wait,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, file)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// daemonProc is a running `zonecert run` with its JSON log records.
type daemonProc struct {
	cmd    *exec.Cmd
	notify *notifySocket

	mu      sync.Mutex
	records []map[string]any
	changed chan struct{}
	exited  chan struct{}
}

func (e *daemonEnv) startDaemon(t *testing.T, cfg string) *daemonProc {
	t.Helper()
	ns := listenNotify(t)
	cmd := exec.Command(filepath.Join(e.bin, "zonecert"), "run", "--config", cfg,
		"--metrics-listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug", "--plugin-dir", e.plugins)
	cmd.Env = baseEnv(e.dir, append([]string{"ALPHA_TSIG_SECRET=" + e.bind.TSIGSecret, "NOTIFY_SOCKET=" + ns.addr}, e.env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProc{cmd: cmd, notify: ns, changed: make(chan struct{}), exited: make(chan struct{})}
	logFile, err := os.Create(filepath.Join(e.dir, fmt.Sprintf("daemon-%d.log", cmd.Process.Pid)))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.exited)
		defer logFile.Close()
		sc := bufio.NewScanner(io.TeeReader(stderr, logFile))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				rec = map[string]any{"msg": "non-json: " + sc.Text()}
			}
			p.mu.Lock()
			p.records = append(p.records, rec)
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("daemon log:\n%s", b)
		}
	})
	return p
}

// waitRecord waits for the first record after index from (0 = any) that
// matches every key=value of want, and returns it with its index.
func (p *daemonProc) waitRecord(t *testing.T, from int, timeout time.Duration, want map[string]string) (map[string]any, int) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for i := from; i < len(p.records); i++ {
			if matches(p.records[i], want) {
				rec := p.records[i]
				p.mu.Unlock()
				return rec, i
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.exited:
			t.Fatalf("daemon exited before logging %v", want)
		case <-deadline.C:
			t.Fatalf("no log record %v within %v", want, timeout)
		}
	}
}

func (p *daemonProc) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.records)
}

func matches(rec map[string]any, want map[string]string) bool {
	for k, v := range want {
		if fmt.Sprint(rec[k]) != v {
			return false
		}
	}
	return true
}

// stop sends sig and returns the exit code.
func (p *daemonProc) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	err := p.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// get fetches path from the daemon's metrics listener.
func get(ctx context.Context, t *testing.T, addr, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of the series line that starts with name (with
// its labels), or -1.
func metric(body, series string) float64 {
	for l := range strings.SplitSeq(body, "\n") {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// processesOf lists the pids whose executable is bin.
func processesOf(bin string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == bin {
			out = append(out, pid)
		}
	}
	return out
}

// notifySocket stands in for systemd's $NOTIFY_SOCKET.
type notifySocket struct {
	addr string
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "zcn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ns := &notifySocket{addr: filepath.Join(dir, "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns.addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			ns.mu.Lock()
			ns.msgs = append(ns.msgs, string(buf[:n]))
			ns.mu.Unlock()
		}
	}()
	return ns
}

func (n *notifySocket) messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}
