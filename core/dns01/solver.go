// Package dns01 is zonecert's DNS side of the ACME DNS-01 challenge
// (RFC 8555 §8.4): challenge names and values, CNAME delegation, zone
// detection by SOA walk, batching per zone, the authoritative propagation
// wait and the cleanup journal.
//
// A Solver publishes through a plugin.Provider and asks DNS itself with
// github.com/miekg/dns: the configured resolvers for zones and name server
// addresses, then every address of every authoritative server of the zone,
// directly and without recursion, until each serves every value. Only then
// should the engine tell the CA to validate.
package dns01

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/plugin"
)

// Defaults for zero Config fields.
const (
	DefaultPropagationTimeout = 2 * time.Minute
	DefaultQueryTimeout       = 2 * time.Second
	DefaultPollInterval       = 250 * time.Millisecond
	DefaultFastPollFor        = 30 * time.Second
	DefaultPollCap            = 4 * time.Second
	DefaultCleanupTimeout     = 2 * time.Minute
)

// Wait says how Publish decides that the records are visible.
type Wait time.Duration

const (
	// WaitAuthoritative (the default) polls every address of every
	// authoritative name server until each serves every value.
	WaitAuthoritative Wait = 0
	// WaitNone returns as soon as the provider accepted the records (and
	// synced, where it can).
	WaitNone Wait = -1
)

// WaitFixed waits a fixed delay after publishing, for set-ups whose name
// servers cannot be reached from here. d <= 0 means WaitNone.
func WaitFixed(d time.Duration) Wait {
	if d <= 0 {
		return WaitNone
	}
	return Wait(d)
}

// String is the form ParseWait reads.
func (w Wait) String() string {
	switch {
	case w == WaitAuthoritative:
		return "authoritative"
	case w < 0:
		return "none"
	default:
		return "fixed:" + time.Duration(w).String()
	}
}

// ParseWait parses "authoritative", "none" or "fixed:DURATION" (a positive
// Go duration, e.g. fixed:30s).
func ParseWait(s string) (Wait, error) {
	switch kind, arg, hasArg := strings.Cut(s, ":"); kind {
	case "authoritative":
		if !hasArg {
			return WaitAuthoritative, nil
		}
	case "none":
		if !hasArg {
			return WaitNone, nil
		}
	case "fixed":
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("bad wait %q: fixed needs a positive duration, e.g. fixed:30s", s)
		}
		return WaitFixed(d), nil
	}
	return 0, fmt.Errorf("bad wait %q (want authoritative, none or fixed:DURATION)", s)
}

// Config configures a Solver. Zero values take the defaults above.
type Config struct {
	// Resolvers are "ip" or "ip:port" of the recursive resolvers used for
	// SOA walks and name server addresses; point them at the view the CA
	// sees. Required (see SystemResolvers).
	Resolvers []string
	// NameserverPort is the port authoritative servers are asked on; 0
	// means 53. Other values are for tests and demos only.
	NameserverPort int
	// PropagationTimeout bounds the authoritative wait.
	PropagationTimeout time.Duration
	// Wait selects the wait mode.
	Wait Wait
	// Aliases maps a domain (as NormalizeDomain returns it, without "*.")
	// to the name its challenge is published at instead of the
	// _acme-challenge name (a CNAME from there to the alias is the user's
	// job), as NormalizeName returns it. CNAMEs at the alias are still
	// followed. The caller normalizes (core.NormalizeRequest does);
	// NewSolver takes the map as it is.
	Aliases map[string]string
	// ZoneOverrides maps a name to the zone that holds every record at or
	// below it, skipping the SOA walk; the longest key wins. Keys and zones
	// are as NormalizeName returns them.
	ZoneOverrides map[string]string
	// TTL of published records; 0 lets the provider choose.
	TTL uint32
	// QueryTimeout bounds each DNS exchange.
	QueryTimeout time.Duration
	// PollInterval is the poll period while the wait is younger than
	// FastPollFor; after that it grows by half each round up to PollCap.
	PollInterval, FastPollFor, PollCap time.Duration
	// CleanupTimeout bounds CleanUp and Recover when ctx has no deadline.
	CleanupTimeout time.Duration
	// Owner is written into every journal entry: the name of a lock (or
	// lease) the caller holds until this Solver's records are cleaned up.
	// Recover leaves entries of live owners alone (see Owners). Empty means
	// a random name, for callers without Owners.
	Owner string
	// Owners tells Recover which owners are gone; nil treats every owner
	// but this Solver's as gone (one process at a time, e.g. MemJournal).
	Owners Owners
	// Provider names the provider instance (name and settings) this Solver
	// publishes through; it is journaled with each record, and Recover
	// hands a record only to the instance that presented it. Entries
	// without one (older formats) go to this Solver's provider.
	Provider string
	// Logger gets debug records of every name server answer; nil discards.
	Logger *slog.Logger
	// Observer gets progress; nil ignores it.
	Observer progress.Observer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Shared, when set, shares name server answers with the other
	// solvers that hold it (concurrent orders; see Shared).
	Shared *Shared
}

// Solver publishes DNS-01 records and waits for them. It is safe for
// concurrent use by several orders.
type Solver struct {
	cfg      Config
	provider plugin.Provider
	journal  Journal
	log      *slog.Logger
	obs      progress.Observer
	now      func() time.Time
	q        *querier
}

// NewSolver validates cfg and returns a Solver publishing through provider
// and journaling to journal. It does no I/O.
func NewSolver(cfg Config, provider plugin.Provider, journal Journal) (*Solver, error) {
	if provider == nil || journal == nil {
		return nil, errors.New("dns01: a provider and a journal are required")
	}
	s, err := newSolver(cfg)
	if err != nil {
		return nil, err
	}
	s.provider, s.journal = provider, journal
	return s, nil
}

// newSolver is NewSolver without the means to publish: enough to look
// names up and ask authoritative servers (see PersistChecker).
func newSolver(cfg Config) (*Solver, error) {
	if len(cfg.Resolvers) == 0 {
		return nil, errors.New("dns01: no resolvers configured")
	}
	q := &querier{nsPort: 53, shared: cfg.Shared}
	for _, r := range cfg.Resolvers {
		s, err := ParseResolver(r)
		if err != nil {
			return nil, fmt.Errorf("dns01: %w", err)
		}
		q.resolvers = append(q.resolvers, s)
	}
	if cfg.NameserverPort < 0 || cfg.NameserverPort > 65535 {
		return nil, fmt.Errorf("dns01: name server port %d out of range", cfg.NameserverPort)
	}
	if cfg.NameserverPort != 0 {
		q.nsPort = uint16(cfg.NameserverPort)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PropagationTimeout, DefaultPropagationTimeout)
	def(&cfg.QueryTimeout, DefaultQueryTimeout)
	def(&cfg.PollInterval, DefaultPollInterval)
	def(&cfg.FastPollFor, DefaultFastPollFor)
	def(&cfg.PollCap, DefaultPollCap)
	def(&cfg.CleanupTimeout, DefaultCleanupTimeout)
	q.Timeout = cfg.QueryTimeout
	if cfg.PollCap < cfg.PollInterval {
		cfg.PollCap = cfg.PollInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	obs := cfg.Observer
	if obs == nil {
		obs = progress.Discard()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if cfg.Owner == "" {
		cfg.Owner = "solver-" + newID()
	}
	return &Solver{cfg: cfg, log: log, obs: obs, now: now, q: q}, nil
}

// QueryCount is the number of DNS messages this Solver has sent (each UDP
// attempt and each TCP retry counts), for benchmarks and metrics.
func (s *Solver) QueryCount() uint64 { return s.q.Sent() }

// Challenge is one DNS-01 challenge to satisfy.
type Challenge struct {
	// Identifier is the domain as NormalizeDomain returns it ("*."
	// allowed); Prepare does not normalize it again.
	Identifier string
	// Value is the TXT value (acme.DNS01Value of the key authorization).
	Value string
}

// Item is one prepared challenge and where its record goes.
type Item struct {
	Challenge
	// Label is what goes in front of the domain: ChallengeLabel for
	// dns-01 (see PrepareLabel for the other methods).
	Label string
	// Name is the challenge name, <Label>.<domain>. (or the alias).
	Name string
	// FQDN is where the record is published, after CNAMEs.
	FQDN string
	// Zone holds FQDN.
	Zone string
	// CNAMEs are the owners of the CNAMEs followed from Name, in order.
	CNAMEs []string
}

// Batch is a prepared set of challenges grouped by zone. Pass it to
// Publish, then to CleanUp.
type Batch struct {
	// Items[i] is challenges[i] of the Prepare call.
	Items []Item
	zones []*zoneBatch
}

// zoneBatch is the records of one zone, published in one Present call.
type zoneBatch struct {
	zone    *zoneInfo
	records []plugin.Record // one per distinct (FQDN, value)
	items   map[string][]int
	mu      sync.Mutex
	present map[string]bool // record IDs handed to the provider
}

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails (crypto/rand contract)
	return hex.EncodeToString(b)
}
