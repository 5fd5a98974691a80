package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// bindNamed is where Debian's bind9 package installs the server.
const bindNamed = "/usr/sbin/named"

// bindStartTimeout bounds how long StartBIND waits for every zone to be served.
const bindStartTimeout = 15 * time.Second

// bindStopGrace is how long a stopping named gets after SIGTERM before
// SIGKILL. named 9.18 exits within about 50 ms of SIGTERM (measured: 20 ms
// idle, with open TCP clients, pending NOTIFYs or a secondary); the grace
// only bounds a hung server, which must not cost every test seconds.
const bindStopGrace = time.Second

// Zone is one zone the test BIND serves.
type Zone struct {
	// Name is the zone apex, e.g. "example.com" (a trailing dot is optional).
	Name string
	// Records are extra resource records in zone-file syntax, relative to
	// the apex ($ORIGIN is the zone), e.g. "www 60 IN A 192.0.2.1" or
	// "_acme-challenge.www CNAME x.other.test.".
	Records []string
	// UpdatePolicy, when set, replaces the default "allow-update { key
	// <TSIGKey>; }" with "update-policy { <UpdatePolicy> };", e.g.
	// `grant zonecert-test. name _acme-challenge.example.test. TXT;`.
	UpdatePolicy string
}

// BINDConfig describes the servers StartBIND runs.
type BINDConfig struct {
	// Zones are served by the primary (and the secondary when enabled).
	// SOA, NS records naming every server and their address records are
	// added to each zone; a zone below another configured zone is
	// delegated from it automatically (NS records plus glue).
	Zones []Zone
	// PrimaryExtraAddrs gives the primary this many more addresses; its
	// name server host name gets an A record for each (an NS with several
	// addresses).
	PrimaryExtraAddrs int
	// Secondary starts a second named that transfers every zone from the
	// primary.
	Secondary bool
	// SecondaryLag delays the secondary by a known interval: the primary
	// notifies a relay in the test process at once, and the relay notifies
	// the secondary SecondaryLag later, so the secondary serves a change
	// SecondaryLag (plus a transfer, a few milliseconds) after the primary.
	// Zero notifies the secondary directly.
	SecondaryLag time.Duration
	// TTL is the default TTL of the zones; 0 means 60 seconds.
	TTL uint32
	// TSIGAlgorithm is the update key's algorithm, a miekg/dns name such
	// as dns.HmacSHA512; empty means dns.HmacSHA256.
	TSIGAlgorithm string
	// ExtraKeys names more TSIG keys (with trailing dots) the primary
	// knows, each with a random secret in BIND.ExtraKeys and the same
	// algorithm; grant them with a zone's UpdatePolicy.
	ExtraKeys []string
}

// BIND is a running set of test name servers. All listen on port 53.
type BIND struct {
	// Primary is the primary's first address; PrimaryAddrs holds all of them.
	Primary      netip.Addr
	PrimaryAddrs []netip.Addr
	// Secondary is the secondary's address (invalid when not configured).
	Secondary netip.Addr
	// PrimaryNS and SecondaryNS are the servers' host names within each
	// zone, relative to the zone ("ns1", "ns2").
	PrimaryNS, SecondaryNS string
	// TSIGKey (a domain name with trailing dot), TSIGSecret (base64) and
	// TSIGAlgorithm (a miekg/dns algorithm name) authorize RFC 2136 updates
	// on the primary.
	TSIGKey, TSIGSecret, TSIGAlgorithm string
	// ExtraKeys maps each BINDConfig.ExtraKeys name to its secret (base64).
	ExtraKeys map[string]string
	// Dir holds configuration, zone files and named's logs.
	Dir string

	zones    []string
	policies []string // update-policy per zone, by index; empty: allow-update
}

// StartBIND runs real named processes for cfg and stops them when the test
// ends. It returns once every server answers authoritatively for every zone.
func StartBIND(t testing.TB, cfg BINDConfig) *BIND {
	t.Helper()
	if _, err := os.Stat(bindNamed); err != nil {
		t.Fatalf("testenv: BIND9 is not installed (%v): run `make test`, which installs the Debian package bind9", err)
	}
	if len(cfg.Zones) == 0 {
		t.Fatal("testenv: BINDConfig has no zones")
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	b := &BIND{
		PrimaryNS:     "ns1",
		SecondaryNS:   "ns2",
		TSIGKey:       "zonecert-test.",
		TSIGSecret:    base64.StdEncoding.EncodeToString(secret),
		TSIGAlgorithm: dns.HmacSHA256,
		Dir:           t.TempDir(),
	}
	if cfg.TSIGAlgorithm != "" {
		b.TSIGAlgorithm = dns.CanonicalName(cfg.TSIGAlgorithm)
	}
	b.ExtraKeys = map[string]string{}
	for _, k := range cfg.ExtraKeys {
		s := make([]byte, 32)
		if _, err := rand.Read(s); err != nil {
			t.Fatal(err)
		}
		b.ExtraKeys[dns.CanonicalName(k)] = base64.StdEncoding.EncodeToString(s)
	}
	for range 1 + cfg.PrimaryExtraAddrs {
		b.PrimaryAddrs = append(b.PrimaryAddrs, LoopbackAddr(t))
	}
	b.Primary = b.PrimaryAddrs[0]
	if cfg.Secondary {
		b.Secondary = LoopbackAddr(t)
	}
	for _, z := range cfg.Zones {
		b.zones = append(b.zones, dns.CanonicalName(z.Name))
		b.policies = append(b.policies, z.UpdatePolicy)
	}

	ctx, cancel := context.WithTimeout(context.Background(), bindStartTimeout)
	defer cancel()

	notifyTarget := ""
	var armed atomic.Bool
	if cfg.Secondary {
		notifyTarget = b.Secondary.String()
		if cfg.SecondaryLag > 0 {
			relay := bindStartRelay(t, b.Secondary, cfg.SecondaryLag, &armed)
			notifyTarget = fmt.Sprintf("%s port %d", relay.Addr(), relay.Port())
		}
	}
	pdir := filepath.Join(b.Dir, "primary")
	bindMkdir(t, pdir)
	for _, z := range cfg.Zones {
		name := dns.CanonicalName(z.Name)
		body := b.zoneFile(name, cfg, z.Records)
		if err := os.WriteFile(filepath.Join(pdir, bindZoneFile(name)), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bindRun(t, pdir, b.primaryConf(notifyTarget, cfg.Secondary))
	b.waitServing(ctx, t, b.Primary, "primary")

	if cfg.Secondary {
		sdir := filepath.Join(b.Dir, "secondary")
		bindMkdir(t, sdir)
		bindRun(t, sdir, b.secondaryConf())
		b.waitServing(ctx, t, b.Secondary, "secondary")
	}
	// The primary's start-up NOTIFYs are not relayed: forwarded late they
	// would make the secondary refresh early, inside a test's lag window.
	armed.Store(true)
	return b
}

// TXT asks server (port 53) for the TXT values at name without recursion,
// as a resolver asks an authoritative server. An absent name or type gives
// no values and no error.
func (b *BIND) TXT(ctx context.Context, server netip.Addr, name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.CanonicalName(name), dns.TypeTXT)
	m.RecursionDesired = false
	r, err := bindExchange(ctx, m, server)
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("TXT %s at %s: %s", name, server, dns.RcodeToString[r.Rcode])
	}
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out, nil
}

// Serial returns the SOA serial server has for zone.
func (b *BIND) Serial(ctx context.Context, server netip.Addr, zone string) (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.CanonicalName(zone), dns.TypeSOA)
	m.RecursionDesired = false
	r, err := bindExchange(ctx, m, server)
	if err != nil {
		return 0, err
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok && r.Authoritative {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("SOA %s at %s: no authoritative answer (%s)", zone, server, dns.RcodeToString[r.Rcode])
}

// Update sends a TSIG-signed RFC 2136 update to the primary, adding insert
// and deleting exactly the records in remove (zone-file syntax, absolute
// names). It is for tests that set up data; providers have their own client.
func (b *BIND) Update(ctx context.Context, zone string, insert, remove []string) error {
	m := new(dns.Msg)
	m.SetUpdate(dns.CanonicalName(zone))
	parse := func(lines []string) ([]dns.RR, error) {
		var rrs []dns.RR
		for _, l := range lines {
			rr, err := dns.NewRR(l)
			if err != nil {
				return nil, fmt.Errorf("parsing %q: %w", l, err)
			}
			rrs = append(rrs, rr)
		}
		return rrs, nil
	}
	ins, err := parse(insert)
	if err != nil {
		return err
	}
	rem, err := parse(remove)
	if err != nil {
		return err
	}
	if len(ins) > 0 {
		m.Insert(ins)
	}
	if len(rem) > 0 {
		m.Remove(rem)
	}
	m.SetTsig(b.TSIGKey, b.TSIGAlgorithm, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{b.TSIGKey: b.TSIGSecret}}
	r, _, err := c.ExchangeContext(ctx, m, netip.AddrPortFrom(b.Primary, 53).String())
	if err != nil {
		return fmt.Errorf("updating %s: %w", zone, err)
	}
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("updating %s: %s", zone, dns.RcodeToString[r.Rcode])
	}
	return nil
}

func (b *BIND) zoneFile(zone string, cfg BINDConfig, extra []string) string {
	ttl := cfg.TTL
	if ttl == 0 {
		ttl = 60
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "$ORIGIN %s\n$TTL %d\n", zone, ttl)
	// Negative TTL 1: a test that looks too early must not be stuck on a
	// cached NXDOMAIN.
	fmt.Fprintf(&sb, "@ IN SOA %s hostmaster 1 3600 600 86400 1\n", b.PrimaryNS)
	b.nsRecords(&sb, "@", cfg.Secondary, true)
	// Delegate each configured zone directly below this one, with glue.
	for _, child := range b.zones {
		if child == zone || !dns.IsSubDomain(zone, child) || b.hasZoneBetween(zone, child) {
			continue
		}
		rel := strings.TrimSuffix(child, "."+zone)
		b.nsRecords(&sb, rel, cfg.Secondary, false)
	}
	for _, r := range extra {
		sb.WriteString(r)
		sb.WriteByte('\n')
	}
	return sb.String()
}

// nsRecords writes NS records at owner naming both servers under owner, and
// their addresses (glue when delegating).
func (b *BIND) nsRecords(sb *strings.Builder, owner string, secondary, apex bool) {
	suffix := ""
	if !apex {
		suffix = "." + owner
	}
	fmt.Fprintf(sb, "%s IN NS %s%s\n", owner, b.PrimaryNS, suffix)
	for _, a := range b.PrimaryAddrs {
		fmt.Fprintf(sb, "%s%s IN A %s\n", b.PrimaryNS, suffix, a)
	}
	if secondary {
		fmt.Fprintf(sb, "%s IN NS %s%s\n", owner, b.SecondaryNS, suffix)
		fmt.Fprintf(sb, "%s%s IN A %s\n", b.SecondaryNS, suffix, b.Secondary)
	}
}

func (b *BIND) hasZoneBetween(parent, child string) bool {
	for _, z := range b.zones {
		if z != parent && z != child && dns.IsSubDomain(parent, z) && dns.IsSubDomain(z, child) {
			return true
		}
	}
	return false
}

func (b *BIND) keyClause() string {
	alg := strings.TrimSuffix(b.TSIGAlgorithm, ".")
	out := fmt.Sprintf("key %q { algorithm %s; secret %q; };\n", b.TSIGKey, alg, b.TSIGSecret)
	for _, k := range slices.Sorted(maps.Keys(b.ExtraKeys)) {
		out += fmt.Sprintf("key %q { algorithm %s; secret %q; };\n", k, alg, b.ExtraKeys[k])
	}
	return out
}

func bindOptions(dir string, addrs []netip.Addr, extra string) string {
	var list strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&list, "%s; ", a)
	}
	return fmt.Sprintf(`options {
	directory %q;
	pid-file %q;
	session-keyfile %q;
	managed-keys-directory %q;
	listen-on port 53 { %s};
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	automatic-interface-scan no;
	allow-transfer { any; };
	notify-delay 0;
	%s
};
controls { };
`, dir, filepath.Join(dir, "named.pid"), filepath.Join(dir, "session.key"), dir, list.String(), extra)
}

func (b *BIND) primaryConf(notifyTarget string, secondary bool) string {
	var sb strings.Builder
	sb.WriteString(bindOptions(filepath.Join(b.Dir, "primary"), b.PrimaryAddrs, ""))
	sb.WriteString(b.keyClause())
	notify := "notify no;"
	if secondary {
		notify = fmt.Sprintf("notify explicit; also-notify { %s; };", notifyTarget)
	}
	for i, z := range b.zones {
		update := fmt.Sprintf("allow-update { key %q; };", b.TSIGKey)
		if b.policies[i] != "" {
			update = fmt.Sprintf("update-policy { %s };", b.policies[i])
		}
		fmt.Fprintf(&sb, "zone %q { type primary; file %q; %s %s };\n", z, bindZoneFile(z), update, notify)
	}
	return sb.String()
}

func (b *BIND) secondaryConf() string {
	var sb strings.Builder
	sb.WriteString(bindOptions(filepath.Join(b.Dir, "secondary"), []netip.Addr{b.Secondary}, "allow-notify { any; };"))
	for _, z := range b.zones {
		fmt.Fprintf(&sb, "zone %q { type secondary; file %q; primaries { %s; }; notify no; };\n",
			z, bindZoneFile(z), b.Primary)
	}
	return sb.String()
}

func bindZoneFile(zone string) string {
	return strings.TrimSuffix(zone, ".") + ".db"
}

func bindMkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

// bindRun starts named in the foreground (-g logs to stderr, which goes to
// named.log in dir) and stops it when the test ends.
func bindRun(t testing.TB, dir, conf string) {
	t.Helper()
	confPath := filepath.Join(dir, "named.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "named.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bindNamed, "-g", "-4", "-n", "1", "-c", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr(false)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("testenv: starting named: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		defer logFile.Close()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		timer := time.NewTimer(bindStopGrace)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			if log, err := os.ReadFile(logPath); err == nil {
				t.Logf("named log (%s):\n%s", dir, bindTail(string(log), 60))
			}
		}
	})
	// Fail fast if named exits at once (bad config, address in use).
	select {
	case err := <-done:
		log, _ := os.ReadFile(logPath)
		done <- err
		t.Fatalf("testenv: named exited during start-up (%v):\n%s", err, bindTail(string(log), 40))
	default:
	}
}

func bindTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (b *BIND) waitServing(ctx context.Context, t testing.TB, server netip.Addr, role string) {
	t.Helper()
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	pending := slices.Clone(b.zones)
	var lastErr error
	for len(pending) > 0 {
		pending = slices.DeleteFunc(pending, func(z string) bool {
			_, err := b.Serial(ctx, server, z)
			lastErr = err
			return err == nil
		})
		if len(pending) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("testenv: %s named at %s does not serve %v: %v", role, server, pending, lastErr)
		case <-ticker.C:
		}
	}
}

func bindExchange(ctx context.Context, m *dns.Msg, server netip.Addr) (*dns.Msg, error) {
	c := &dns.Client{Timeout: time.Second}
	addr := netip.AddrPortFrom(server, 53).String()
	r, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("asking %s: %w", addr, err)
	}
	return r, nil
}

// bindStartRelay listens for the primary's NOTIFY messages and forwards each
// to the secondary lag later, which makes the secondary's lag known.
func bindStartRelay(t testing.TB, secondary netip.Addr, lag time.Duration, armed *atomic.Bool) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		stopped bool
		timers  []*time.Timer
		wg      sync.WaitGroup
	)
	forward := func(zone string) {
		defer wg.Done()
		m := new(dns.Msg)
		m.SetNotify(zone)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := bindExchange(ctx, m, secondary); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("testenv: relaying NOTIFY for %s to %s: %v", zone, secondary, err)
		}
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		reply := new(dns.Msg)
		reply.SetReply(r)
		reply.Authoritative = true
		_ = w.WriteMsg(reply)
		if r.Opcode != dns.OpcodeNotify || len(r.Question) != 1 || !armed.Load() {
			return
		}
		zone := r.Question[0].Name
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		wg.Add(1)
		timers = append(timers, time.AfterFunc(lag, func() { forward(zone) }))
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() {
		mu.Lock()
		stopped = true
		for _, tm := range timers {
			if tm.Stop() {
				wg.Done()
			}
		}
		mu.Unlock()
		wg.Wait()
		_ = srv.Shutdown()
	})
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}
