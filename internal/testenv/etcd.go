package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdBinary is where Debian's etcd-server package installs the server.
const etcdBinary = "/usr/bin/etcd"

// etcdStartTimeout bounds how long StartEtcd waits for the cluster to be
// healthy (a three-member cluster elects a leader in about a second).
const etcdStartTimeout = 30 * time.Second

// Etcd is a real etcd cluster of one or more members, each on its own
// loopback address, with data in the test's temp directory. It stops when
// the test ends.
type Etcd struct {
	// TLS is set for a TLS cluster (EtcdConfig.TLS).
	TLS     *EtcdTLS
	t       testing.TB
	members []*etcdMember
}

type etcdMember struct {
	name, client, peer, dir, log string
	args                         []string

	mu  sync.Mutex
	cmd *exec.Cmd
	// done is closed when the process exits (nil while stopped).
	done chan struct{}
}

// EtcdConfig describes the cluster StartEtcdWith runs.
type EtcdConfig struct {
	// Members is the number of members (1 when zero; 3 for failure tests).
	Members int
	// TLS serves clients over https with a server certificate for every
	// member's address and requires client certificates; the CA and a
	// client certificate are in Etcd.TLS.
	TLS bool
}

// EtcdTLS are the PEM files of a TLS cluster's client side.
type EtcdTLS struct {
	CAFile            string // trusts the members' certificates, and signed the client's
	CertFile, KeyFile string // a client certificate the cluster accepts
	OtherCertFile     string // a client certificate from another CA (refused)
	OtherKeyFile      string
	config            *tls.Config
}

// StartEtcd starts an etcd cluster of n members (1 or 3 for failure
// tests) and waits until every member reports healthy. Needs root (one
// loopback address per member, see LoopbackAddr) and Debian's etcd-server.
func StartEtcd(t testing.TB, n int) *Etcd {
	t.Helper()
	return StartEtcdWith(t, EtcdConfig{Members: n})
}

// StartEtcdWith starts the cluster cfg describes; with TLS, the server
// certificate is made by newServerCert for each member's address.
func StartEtcdWith(t testing.TB, cfg EtcdConfig) *Etcd {
	t.Helper()
	n := max(cfg.Members, 1)
	var serverCert, serverKey string
	if _, err := os.Stat(etcdBinary); err != nil {
		t.Fatalf("testenv: etcd is required (%s): apt-get install etcd-server etcd-client, or make tools: %v", etcdBinary, err)
	}
	token := make([]byte, 8)
	_, _ = rand.Read(token)
	root := t.TempDir()
	e := &Etcd{t: t}
	scheme := "http://"
	if cfg.TLS {
		scheme = "https://"
	}
	var cluster []string
	for i := range n {
		addr := LoopbackAddr(t).String()
		m := &etcdMember{
			name:   fmt.Sprintf("m%d", i),
			client: scheme + addr + ":2379",
			peer:   "http://" + addr + ":2380",
			dir:    filepath.Join(root, fmt.Sprintf("m%d", i)),
			log:    filepath.Join(root, fmt.Sprintf("m%d.log", i)),
		}
		cluster = append(cluster, m.name+"="+m.peer)
		e.members = append(e.members, m)
	}
	if cfg.TLS {
		var addrs []string
		for _, m := range e.members {
			addrs = append(addrs, strings.TrimSuffix(strings.TrimPrefix(m.client, scheme), ":2379"))
		}
		e.TLS, serverCert, serverKey = makeEtcdTLS(t, root, addrs)
	}
	for _, m := range e.members {
		m.args = []string{
			"--name", m.name, "--data-dir", m.dir,
			"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
			"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
			"--initial-cluster", strings.Join(cluster, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "zonecert-test-" + hex.EncodeToString(token),
			"--logger", "zap", "--log-outputs", "stderr",
			// Fast elections: tests kill the leader.
			"--heartbeat-interval", "50", "--election-timeout", "500",
		}
		if cfg.TLS {
			m.args = append(m.args, "--cert-file", serverCert, "--key-file", serverKey,
				"--client-cert-auth", "--trusted-ca-file", e.TLS.CAFile)
		}
		e.start(m)
	}
	t.Cleanup(func() {
		for _, m := range e.members {
			m.stop(syscall.SIGKILL)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), etcdStartTimeout)
	defer cancel()
	for i := range e.members {
		if err := e.WaitHealthy(ctx, i); err != nil {
			t.Fatalf("testenv: etcd member %d: %v\n%s", i, err, e.Log(i))
		}
	}
	return e
}

func (e *Etcd) start(m *etcdMember) {
	e.t.Helper()
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(etcdBinary, m.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = []string{"PATH=/usr/bin:/bin"} // no ETCD_* from the caller's environment
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		e.t.Fatalf("testenv: starting etcd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(done) }()
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
}

// Endpoints are the client URLs of every member.
func (e *Etcd) Endpoints() []string {
	var eps []string
	for _, m := range e.members {
		eps = append(eps, m.client)
	}
	return eps
}

// Endpoint is member i's client URL.
func (e *Etcd) Endpoint(i int) string { return e.members[i].client }

// Kill stops member i with SIGKILL and waits for it to exit.
func (e *Etcd) Kill(i int) { e.members[i].stop(syscall.SIGKILL) }

// Restart starts a stopped member i again on its data directory and
// waits until it is healthy.
func (e *Etcd) Restart(ctx context.Context, i int) error {
	e.start(e.members[i])
	return e.WaitHealthy(ctx, i)
}

func (m *etcdMember) stop(sig syscall.Signal) {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd, m.done = nil, nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	<-done
}

// WaitHealthy polls member i's /health until it says true or ctx ends.
func (e *Etcd) WaitHealthy(ctx context.Context, i int) error {
	m := e.members[i]
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	hc := http.DefaultClient
	if e.TLS != nil {
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: e.TLS.config}}
		defer hc.CloseIdleConnections()
	}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.client+"/health", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if bytes.Contains(body, []byte(`"health":"true"`)) {
				return nil
			}
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("not healthy: %w", ctx.Err())
		case <-done:
			t.Stop()
			return fmt.Errorf("etcd exited")
		case <-t.C:
		}
	}
}

// Log returns the last part of member i's log, for failure messages.
func (e *Etcd) Log(i int) string {
	b, _ := os.ReadFile(e.members[i].log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Leader returns the index of the member that leads the cluster now.
func (e *Etcd) Leader(ctx context.Context) (int, error) {
	cc := clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if e.TLS != nil {
		cc.TLS = e.TLS.config
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	for i, m := range e.members {
		st, err := cli.Status(ctx, m.client)
		if err != nil {
			continue // a stopped member
		}
		if st.Header.MemberId == st.Leader {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no member says it leads")
}
