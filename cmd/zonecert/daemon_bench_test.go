package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDaemonStartup1000 measures `zonecert run` with 1,000
// certificates configured and none due (each has a fresh certificate on
// disk): the time to READY (config read, every plugin described), the time
// until every certificate was checked once (the not-after gauges are all
// set), and the peak RSS (VmHWM). No plugin process starts: instances start
// on first use.
func BenchmarkDaemonStartup1000(b *testing.B) {
	const n = 1000
	bin := binaries(b)
	dir := b.TempDir()
	state := filepath.Join(dir, "state")
	certPEM := selfSigned(b, "bench.example")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `state = %q
[acme]
server = "https://127.0.0.1:1/dir"
agree_tos = true
[dns]
resolvers = ["127.0.0.1"]
[providers.bind]
plugin = "rfc2136"
settings = { nameserver = "127.0.0.1:53", tsig_key = "k.", tsig_secret = "${TSIG}" }
`, state)
	for i := range n {
		name := fmt.Sprintf("cert%04d", i)
		fmt.Fprintf(&cfg, "[[certificate]]\nname = %q\ndomains = [\"bench.example\"]\nprovider = \"bind\"\n", name)
		live := filepath.Join(state, "live", name)
		if err := os.MkdirAll(live, 0o700); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(live, "cert.pem"), certPEM, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(dir, "zonecert.toml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		b.Fatal(err)
	}

	var ready, checked time.Duration
	var peak int64
	for b.Loop() {
		start := time.Now()
		cmd := exec.Command(filepath.Join(bin, "zonecert"), "run", "--config", path,
			"--metrics-listen", "127.0.0.1:0", "--log-format", "json", "--plugin-dir", bin)
		cmd.Env = baseEnv(dir, "TSIG=c2VjcmV0")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		addr := ""
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, `"addr":"`); i >= 0 && strings.Contains(line, "metrics listening") {
				addr = strings.SplitN(line[i+8:], `"`, 2)[0]
			}
			if strings.Contains(line, `"msg":"zonecert running"`) {
				ready += time.Since(start)
				break
			}
		}
		if addr == "" {
			b.Fatalf("daemon exited before it was ready: %v", sc.Err())
		}
		go func() { _, _ = io.Copy(io.Discard, stderr) }()
		for {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Count(string(body), "zonecert_certificate_not_after_seconds{") == n {
				checked += time.Since(start)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		peak = max(peak, vmHWM(cmd.Process.Pid))
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("daemon exit: %v", err)
		}
	}
	b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "ms-to-ready")
	b.ReportMetric(float64(checked.Milliseconds())/float64(b.N), "ms-all-checked")
	b.ReportMetric(float64(peak)/1024, "MiB-peak-rss")
	b.ReportMetric(0, "ns/op")
}

// selfSigned is a certificate for name valid from now for 90 days.
func selfSigned(b testing.TB, name string) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		b.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
