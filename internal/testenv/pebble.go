package testenv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// PebbleOptions configure [StartPebble].
type PebbleOptions struct {
	// DNSServer is the host:port Pebble's VA resolves through (pebble
	// -dnsserver). Required. Pebble queries it over TCP.
	DNSServer string
	// EAB maps key IDs to base64url HMAC keys. Non-nil makes External
	// Account Binding required.
	EAB map[string]string
	// AlternateRoots is PEBBLE_ALTERNATE_ROOTS: extra root hierarchies,
	// each offered as an alternate chain.
	AlternateRoots int
	// ChainLength is PEBBLE_CHAIN_LENGTH (intermediates + root); zero keeps
	// Pebble's default.
	ChainLength int
	// NonceReject is PEBBLE_WFE_NONCEREJECT, the percentage of valid nonces
	// rejected as badNonce. Zero means 50; negative means 0.
	NonceReject int
	// RetryAfterAuthz and RetryAfterOrder are the Retry-After seconds Pebble
	// sends while authorizations and orders are pending or processing.
	// Zero means 1; negative means none.
	RetryAfterAuthz, RetryAfterOrder int
	// AuthzReuse is PEBBLE_AUTHZREUSE, the percentage of valid
	// authorizations reused; zero means none are.
	AuthzReuse int
}

// Pebble is a running Pebble test CA. Profiles "default" (90 days) and
// "shortlived" (6 days) are always configured.
type Pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// HTTPClient trusts Pebble's TLS certificate (ACME and management API).
	HTTPClient *http.Client
	// CABundlePEM is the TLS trust for the ACME endpoint, for a CLI
	// --ca-bundle flag. It is not the issuing root; see Roots.
	CABundlePEM []byte
	// ManagementURL is the base of Pebble's management API.
	ManagementURL string
	// AlternateRoots is the number of alternate roots configured.
	AlternateRoots int

	proc *pebbleProc
}

// QuitWithStacks ends Pebble with SIGQUIT, so that the Go runtime prints
// every goroutine's stack, and returns that dump. It is for diagnosing a
// Pebble that stopped answering; Pebble is gone afterwards.
func (p *Pebble) QuitWithStacks() ([]byte, error) {
	before, err := os.Stat(p.proc.logFile)
	if err != nil {
		return nil, err
	}
	if err := p.proc.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		return nil, err
	}
	select {
	case <-p.proc.exited:
	case <-time.After(10 * time.Second):
		return nil, errors.New("pebble did not exit on SIGQUIT")
	}
	out, err := os.ReadFile(p.proc.logFile)
	if err != nil {
		return nil, err
	}
	return out[min(int(before.Size()), len(out)):], nil
}

// Pebble profiles always configured, with their validity periods.
const (
	PebbleProfileDefault    = "default"
	PebbleProfileShortlived = "shortlived"
)

// Validity periods of the configured profiles.
const (
	PebbleDefaultValidity    = 90 * 24 * time.Hour
	PebbleShortlivedValidity = 6 * 24 * time.Hour
)

// StartPebble starts the Pebble binary found in $ZONECERT_PEBBLE, else in
// .tools/ of an enclosing directory, else on PATH, with -strict,
// PEBBLE_VA_NOSLEEP=1 and the options given, on free loopback ports with
// its own TLS certificate. It returns once the directory
// answers and stops Pebble (its whole process group) in t.Cleanup. Pebble's
// output is written to a file in t.TempDir and logged when the test fails.
func StartPebble(t testing.TB, opts PebbleOptions) *Pebble {
	t.Helper()
	bin := pebbleBinary(t)
	if opts.DNSServer == "" {
		t.Fatal("testenv: PebbleOptions.DNSServer is required")
	}
	dir := t.TempDir()
	certPEM, keyPEM, err := pebbleTLSCert()
	if err != nil {
		t.Fatalf("testenv: pebble TLS certificate: %v", err)
	}
	certFile, keyFile := filepath.Join(dir, "tls-cert.pem"), filepath.Join(dir, "tls-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	t.Cleanup(client.CloseIdleConnections)

	// Ports are picked free and then handed to Pebble; another process
	// could take one in between, so a failed start is retried.
	for attempt := 0; ; attempt++ {
		p, proc, err := pebbleLaunch(bin, dir, certFile, keyFile, opts, client)
		if err == nil {
			p.CABundlePEM = certPEM
			p.HTTPClient = client
			p.proc = proc
			t.Cleanup(func() { proc.stop(t) })
			return p
		}
		proc.stop(t)
		if attempt == 2 {
			out, _ := os.ReadFile(proc.logFile)
			t.Fatalf("testenv: starting pebble: %v\n%s", err, out)
		}
	}
}

func pebbleBinary(t testing.TB) string {
	if p := os.Getenv("ZONECERT_PEBBLE"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	// `go test` run by hand: prefer the pinned Pebble `make` installed over
	// whatever version is on PATH, and say which one runs.
	if dir, err := os.Getwd(); err == nil {
		for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			p := filepath.Join(dir, ".tools", "pebble")
			if _, err := os.Stat(p); err == nil {
				t.Logf("testenv: using %s ($ZONECERT_PEBBLE unset)", p)
				return p
			}
		}
	}
	if p, err := exec.LookPath("pebble"); err == nil {
		t.Logf("testenv: using %s from PATH, not the pinned .tools/pebble", p)
		return p
	}
	t.Fatal("testenv: pebble not found in $ZONECERT_PEBBLE, .tools/ or PATH: run `make test` " +
		"(or testdata/scripts/install-tools.sh pebble and export ZONECERT_PEBBLE=$PWD/.tools/pebble)")
	return ""
}

// pebbleProc is one started Pebble process.
type pebbleProc struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once Wait returned
	logFile string
}

func pebbleLaunch(bin, dir, certFile, keyFile string, opts PebbleOptions, client *http.Client) (*Pebble, *pebbleProc, error) {
	proc := &pebbleProc{}
	ports, err := pebbleFreePorts(4)
	if err != nil {
		return nil, proc, err
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	mgmt := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	cfg := map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": mgmt,
		"certificate":             certFile,
		"privateKey":              keyFile,
		"httpPort":                ports[2],
		"tlsPort":                 ports[3],
		"ocspResponderURL":        "",
		"keyAlgorithm":            "ecdsa",
		"retryAfter": map[string]int{
			"authz": pebbleDefault(opts.RetryAfterAuthz, 1),
			"order": pebbleDefault(opts.RetryAfterOrder, 1),
		},
		"profiles": map[string]any{
			PebbleProfileDefault:    map[string]any{"description": "90-day certificates", "validityPeriod": int(PebbleDefaultValidity / time.Second)},
			PebbleProfileShortlived: map[string]any{"description": "6-day certificates", "validityPeriod": int(PebbleShortlivedValidity / time.Second)},
		},
	}
	if opts.EAB != nil {
		cfg["externalAccountBindingRequired"] = true
		cfg["externalAccountMACKeys"] = opts.EAB
	}
	raw, err := json.MarshalIndent(map[string]any{"pebble": cfg}, "", "  ")
	if err != nil {
		return nil, proc, err
	}
	cfgFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(cfgFile, raw, 0o600); err != nil {
		return nil, proc, err
	}
	proc.logFile = filepath.Join(dir, fmt.Sprintf("pebble-%d.log", ports[0]))
	out, err := os.OpenFile(proc.logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, proc, err
	}
	defer out.Close()
	cmd := exec.Command(bin, "-strict", "-config", cfgFile, "-dnsserver", opts.DNSServer)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childAttr(true)
	cmd.Env = append(os.Environ(),
		"PEBBLE_VA_NOSLEEP=1",
		"PEBBLE_WFE_NONCEREJECT="+strconv.Itoa(pebbleDefault(opts.NonceReject, 50)),
		"PEBBLE_ALTERNATE_ROOTS="+strconv.Itoa(opts.AlternateRoots),
		"PEBBLE_AUTHZREUSE="+strconv.Itoa(opts.AuthzReuse),
	)
	if opts.ChainLength > 0 {
		cmd.Env = append(cmd.Env, "PEBBLE_CHAIN_LENGTH="+strconv.Itoa(opts.ChainLength))
	}
	if err := cmd.Start(); err != nil {
		return nil, proc, fmt.Errorf("starting %s: %w", bin, err)
	}
	proc.cmd, proc.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(proc.exited)
	}()
	p := &Pebble{
		DirectoryURL:   "https://" + listen + "/dir",
		ManagementURL:  "https://" + mgmt,
		AlternateRoots: opts.AlternateRoots,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-proc.exited:
			return nil, proc, errors.New("pebble exited during start-up")
		case <-ctx.Done():
			return nil, proc, errors.New("pebble directory did not answer within 20s")
		case <-tick.C:
		}
		if pebbleReady(ctx, client, p.DirectoryURL) && pebbleReady(ctx, client, p.ManagementURL+"/roots/0") {
			return p, proc, nil
		}
	}
}

func pebbleReady(ctx context.Context, c *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop kills Pebble's process group, waits for it, and logs its output
// when the test failed.
func (p *pebbleProc) stop(t testing.TB) {
	if p.cmd != nil {
		_ = killGroup(p.cmd.Process.Pid)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("testenv: pebble (pid %d) did not exit", p.cmd.Process.Pid)
		}
	}
	if t.Failed() && p.logFile != "" {
		if out, err := os.ReadFile(p.logFile); err == nil {
			t.Logf("pebble output (%s):\n%s", p.logFile, out)
		}
	}
}

func pebbleDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// pebbleFreePorts returns n distinct free TCP ports on 127.0.0.1.
func pebbleFreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// pebbleTLSCert makes a self-signed certificate for 127.0.0.1 and localhost.
func pebbleTLSCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "zonecert test pebble"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// Roots fetches the issuing roots from the management API: root 0 and every
// alternate root.
func (p *Pebble) Roots(ctx context.Context) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for i := 0; i <= p.AlternateRoots; i++ {
		b, err := p.management(ctx, fmt.Sprintf("/roots/%d", i))
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("pebble root %d: no certificate in answer", i)
		}
	}
	return pool, nil
}

// Intermediates fetches the intermediate certificates from the management
// API, one per root.
func (p *Pebble) Intermediates(ctx context.Context) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for i := 0; i <= p.AlternateRoots; i++ {
		b, err := p.management(ctx, fmt.Sprintf("/intermediates/%d", i))
		if err != nil {
			return nil, err
		}
		pool.AppendCertsFromPEM(b)
	}
	return pool, nil
}

// SetRenewalInfo overrides the ARI answer for certPEM with the raw
// renewalInfo JSON ariJSON (which may be malformed on purpose).
func (p *Pebble) SetRenewalInfo(ctx context.Context, certPEM []byte, ariJSON string) error {
	body, err := json.Marshal(struct {
		Certificate string
		ARIResponse string
	}{string(certPEM), ariJSON})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.ManagementURL+"/set-renewal-info/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := p.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("pebble set-renewal-info: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pebble set-renewal-info: HTTP %d: %s", resp.StatusCode, out)
	}
	return nil
}

// PebbleCertStatus is what Pebble's management API knows of one issued
// certificate.
type PebbleCertStatus struct {
	// Status is "Valid" or "Revoked".
	Status string
	// Reason is the recorded CRL reason code (RFC 5280 §5.3.1) of a revoked
	// certificate; nil when the revocation request carried none.
	Reason *int
}

// CertStatus asks the management API whether the certificate with this
// serial number is valid or revoked, and with which reason.
func (p *Pebble) CertStatus(ctx context.Context, serial *big.Int) (PebbleCertStatus, error) {
	b, err := p.management(ctx, "/cert-status-by-serial/"+serial.Text(16))
	if err != nil {
		return PebbleCertStatus{}, err
	}
	var st PebbleCertStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return PebbleCertStatus{}, fmt.Errorf("pebble cert-status-by-serial: %w", err)
	}
	return st, nil
}

func (p *Pebble) management(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.ManagementURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pebble management %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("pebble management %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pebble management %s: HTTP %d: %s", path, resp.StatusCode, b)
	}
	return b, nil
}
