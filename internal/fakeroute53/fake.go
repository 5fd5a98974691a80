// Package fakeroute53 is a local fake of the Amazon Route 53 REST-XML API
// (version 2013-04-01), for tests. It implements the semantics a DNS-01
// client depends on, as the Route 53 API Reference documents them:
//
//   - ListHostedZonesByName orders zones by name with labels reversed and
//     starts at the first zone at or after dnsname;
//   - ListResourceRecordSets orders record sets the same way, then by type;
//   - ChangeResourceRecordSets is atomic: CREATE fails if the set exists,
//     DELETE must match the current set exactly (values and TTL), UPSERT
//     replaces the whole set, and any failure rejects the whole batch with
//     InvalidChangeBatch, as does a request over 1,000 ResourceRecord
//     elements or 32,000 value characters (UPSERT counting twice);
//   - GetChange reports PENDING until the change is published, then INSYNC;
//     only then do the fake's nameservers serve it; changes publish in
//     submission order;
//   - errors use Route 53's XML error body (ErrorResponse/Error/Type/Code/
//     Message, RequestId) with its status codes, or, optionally, the bare
//     <InvalidChangeBatch> shape;
//   - every request must carry a valid AWS Signature Version 4 made with a
//     registered access key; anything else is 403.
//
// The zones are also served over DNS (UDP and TCP on 127.0.0.1), so a test can
// check what "the nameserver" answers. The fake counts API calls per operation.
package fakeroute53

import (
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Default credentials registered by every Server.
const (
	AccessKeyID     = "AKIAFAKEROUTE53TEST1"
	SecretAccessKey = "fakeSecretKeyForTheRoute53FakeDoNotUse1"
)

// Operation names, as counted by [Server.Calls] and accepted by
// [Server.Throttle] and [Server.Deny].
const (
	OpListHostedZonesByName    = "ListHostedZonesByName"
	OpGetHostedZone            = "GetHostedZone"
	OpListResourceRecordSets   = "ListResourceRecordSets"
	OpChangeResourceRecordSets = "ChangeResourceRecordSets"
	OpGetChange                = "GetChange"
)

// Options configure a Server.
type Options struct {
	// SyncDelay is how long a change stays PENDING after it was submitted.
	SyncDelay time.Duration
	// SyncAfterPolls, when positive, overrides SyncDelay: a change turns
	// INSYNC once GetChange has been asked about it this many times.
	SyncAfterPolls int
	// Now replaces the clock (nil = time.Now).
	Now func() time.Time
	// BareBatchErrors writes InvalidChangeBatch as an <InvalidChangeBatch>
	// root element instead of an <ErrorResponse>; Route 53 answers in both
	// shapes.
	BareBatchErrors bool
	// BeforeChange, if set, runs at the start of every accepted
	// ChangeResourceRecordSets request, before the batch is checked, so a
	// test can change the zone between a client's read and its write.
	BeforeChange func(zoneID string)
}

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint to configure as AWS_ENDPOINT_URL_ROUTE_53.
	URL string

	http    *httptest.Server
	dnsUDP  *dns.Server
	dnsTCP  *dns.Server
	dnsAddr string
	opts    Options

	mu        sync.Mutex
	keys      map[string]string          // access key id -> secret
	deny      map[string]map[string]bool // access key id -> denied operations
	zones     map[string]*zone           // by id
	changes   map[string]*change         // by id
	pending   []*change                  // submission order, not yet published
	calls     map[string]int
	throttle  map[string]int // op ("" = any) -> remaining (<0 = forever)
	throttled map[string]int
}

type rrKey struct{ name, typ string }

type rrset struct {
	ttl    int64
	values []string
}

func (r *rrset) clone() *rrset {
	if r == nil {
		return nil
	}
	return &rrset{ttl: r.ttl, values: slices.Clone(r.values)}
}

type zone struct {
	id, name string
	private  bool
	api      map[rrKey]*rrset // what the API reads: changes apply at once
	dns      map[rrKey]*rrset // what the nameservers serve: changes apply when INSYNC
}

type change struct {
	id, comment string
	zoneID      string
	submitted   time.Time
	polls       int
	insync      bool
	after       map[rrKey]*rrset // nil value: the set was deleted
}

// New starts a Server and closes it when tb ends.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatalf("starting fake Route 53: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a Server with the default credentials registered.
func Start(opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:      opts,
		keys:      map[string]string{AccessKeyID: SecretAccessKey},
		deny:      map[string]map[string]bool{},
		zones:     map[string]*zone{},
		changes:   map[string]*change{},
		calls:     map[string]int{},
		throttle:  map[string]int{},
		throttled: map[string]int{},
	}
	if err := s.startDNS(); err != nil {
		return nil, err
	}
	s.http = httptest.NewServer(s.handler())
	s.URL = s.http.URL
	return s, nil
}

// Close stops the HTTP and DNS servers.
func (s *Server) Close() {
	s.http.Close()
	_ = s.dnsUDP.Shutdown()
	_ = s.dnsTCP.Shutdown()
}

// DNSAddr is the host:port (UDP and TCP) where the zones are served.
func (s *Server) DNSAddr() string { return s.dnsAddr }

// AddKey registers another access key.
func (s *Server) AddKey(accessKeyID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[accessKeyID] = secret
}

// Deny makes op fail with AccessDenied for accessKeyID, as an IAM policy
// lacking that action would.
func (s *Server) Deny(accessKeyID, op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deny[accessKeyID] == nil {
		s.deny[accessKeyID] = map[string]bool{}
	}
	s.deny[accessKeyID][op] = true
}

// Throttle makes the next n requests for op ("" = any operation) fail with
// Route 53's Throttling error; n < 0 throttles until Throttle(op, 0).
func (s *Server) Throttle(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle[op] = n
}

// Calls returns the number of requests received per operation, including
// rejected ones.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Throttled returns the number of requests rejected with Throttling per
// operation.
func (s *Server) Throttled() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.throttled))
	for k, v := range s.throttled {
		out[k] = v
	}
	return out
}

// ResetCalls zeroes the call counters.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
	clear(s.throttled)
}

// AddZone creates a hosted zone with its SOA and NS record sets, as
// CreateHostedZone does, and returns its id (without the /hostedzone/
// prefix). Several zones may share a name.
func (s *Server) AddZone(name string, private bool) string {
	name = canonicalName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	z := &zone{id: "Z" + randomID(20), name: name, private: private,
		api: map[rrKey]*rrset{}, dns: map[rrKey]*rrset{}}
	soa := &rrset{ttl: 900, values: []string{
		"ns-1.awsdns-01.fake. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}}
	ns := &rrset{ttl: 172800, values: []string{
		"ns-1.awsdns-01.fake.", "ns-2.awsdns-02.fake.", "ns-3.awsdns-03.fake.", "ns-4.awsdns-04.fake."}}
	for k, v := range map[rrKey]*rrset{{name, "SOA"}: soa, {name, "NS"}: ns} {
		z.api[k], z.dns[k] = v, v.clone()
	}
	s.zones[z.id] = z
	return z.id
}

// PutRRSet sets a record set directly in both the API and the DNS view, as
// if a change had been made and synced long ago. values are Route 53 record
// values (TXT values carry their quotes); no values deletes the set.
func (s *Server) PutRRSet(zoneID, name, typ string, ttl int64, values ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[zoneID]
	if !ok {
		return fmt.Errorf("no zone %s", zoneID)
	}
	k := rrKey{canonicalName(name), strings.ToUpper(typ)}
	if len(values) == 0 {
		delete(z.api, k)
		delete(z.dns, k)
		return nil
	}
	set := &rrset{ttl: ttl, values: slices.Clone(values)}
	z.api[k], z.dns[k] = set, set.clone()
	return nil
}

// RRSet returns a record set as the API sees it.
func (s *Server) RRSet(zoneID, name, typ string) (ttl int64, values []string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z, found := s.zones[zoneID]
	if !found {
		return 0, nil, false
	}
	set, found := z.api[rrKey{canonicalName(name), strings.ToUpper(typ)}]
	if !found {
		return 0, nil, false
	}
	return set.ttl, slices.Clone(set.values), true
}

// Pending returns the number of changes not yet INSYNC.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishLocked()
	return len(s.pending)
}

// publishLocked applies, in submission order, every change whose delay has
// passed to the nameservers' view. Route 53 propagates changes to all its
// servers before GetChange says INSYNC. Changes are published in order, so
// a ready change also publishes the earlier ones (with SyncAfterPolls, a
// change nobody polls must not hold back the later ones forever).
func (s *Server) publishLocked() {
	now := s.opts.Now()
	n := 0
	for i, c := range s.pending {
		ready := now.Sub(c.submitted) >= s.opts.SyncDelay
		if s.opts.SyncAfterPolls > 0 {
			ready = c.polls >= s.opts.SyncAfterPolls
		}
		if ready {
			n = i + 1
		}
	}
	for _, c := range s.pending[:n] {
		if z, ok := s.zones[c.zoneID]; ok {
			for k, v := range c.after {
				if v == nil {
					delete(z.dns, k)
				} else {
					z.dns[k] = v.clone()
				}
			}
		}
		c.insync = true
	}
	s.pending = s.pending[n:]
}

// canonicalName lower-cases a name, adds the trailing dot and turns
// Route 53's octal escape for "*" back into the character.
func canonicalName(name string) string {
	name = strings.ToLower(strings.ReplaceAll(name, `\052`, "*"))
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// wireName is how Route 53 returns a name: "*" as \052.
func wireName(name string) string { return strings.ReplaceAll(name, "*", `\052`) }

// reversed returns name with its labels reversed ("www.example.com." →
// "com.example.www"), the order Route 53 lists zones and record sets in.
func reversed(name string) string {
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".")
}

func inZone(name, zoneName string) bool {
	return name == zoneName || strings.HasSuffix(name, "."+zoneName)
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}
