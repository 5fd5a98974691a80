package dns01

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/core/acme"
)

// PersistChecker asks every authoritative server whether it serves a
// dns-persist-01 record that lets an account validate a name. It needs no
// provider: it only asks DNS, as the CA will.
type PersistChecker struct {
	s *Solver
}

// NewPersistChecker validates cfg (Resolvers, NameserverPort, ZoneOverrides,
// QueryTimeout and Logger matter) and does no I/O.
func NewPersistChecker(cfg Config) (*PersistChecker, error) {
	s, err := newSolver(cfg)
	if err != nil {
		return nil, err
	}
	return &PersistChecker{s: s}, nil
}

// QueryCount is the number of DNS messages sent so far.
func (c *PersistChecker) QueryCount() uint64 { return c.s.q.Sent() }

// PersistWant is what a record must say to authorize.
type PersistWant struct {
	// Issuers are the CA's issuer domain names; empty accepts any issuer.
	Issuers []string
	// AccountURI is the account that will validate.
	AccountURI string
	// At is the validation time checked against persistUntil; zero means
	// now.
	At time.Time
}

// PersistServer is what one name server address serves.
type PersistServer struct {
	Nameserver string
	Addr       netip.AddrPort
	// Values are the TXT values at the record's name.
	Values []string
	// Err is nil when a value authorizes, and otherwise says why none does
	// (naming the issuer, account URI, policy or persistUntil), or why the
	// question failed.
	Err error
}

// PersistStatus is one identifier's record on every authoritative address.
type PersistStatus struct {
	// Identifier is as given, "*." kept.
	Identifier string
	// Name is _validation-persist.<domain>.; FQDN is where CNAMEs from it
	// lead, in Zone.
	Name, FQDN, Zone string
	// Servers are the reachable addresses of the zone's name servers.
	Servers []PersistServer
}

// OK reports whether every address serves an authorizing record.
func (p PersistStatus) OK() bool {
	if len(p.Servers) == 0 {
		return false
	}
	for _, s := range p.Servers {
		if s.Err != nil {
			return false
		}
	}
	return true
}

// PersistError lists the identifiers whose record is missing or wrong on
// some authoritative address.
type PersistError struct {
	Failed []PersistStatus
}

func (e *PersistError) Error() string {
	var sb strings.Builder
	sb.WriteString("dns-persist-01 record not usable:")
	for _, st := range e.Failed {
		fmt.Fprintf(&sb, " %s (%s", st.Identifier, st.Name)
		if st.FQDN != st.Name {
			fmt.Fprintf(&sb, " → %s", st.FQDN)
		}
		sb.WriteString("):")
		for _, s := range st.Servers {
			if s.Err != nil {
				fmt.Fprintf(&sb, " %s (%s): %v;", s.Nameserver, s.Addr, s.Err)
			}
		}
	}
	return strings.TrimSuffix(sb.String(), ";")
}

// Check asks every address of every authoritative server, once, for the
// dns-persist-01 record of each identifier (normalized, "*." marking a
// wildcard, which needs policy=wildcard) and returns what each serves. The
// error is a *PersistError when any address lacks an authorizing record,
// or a look-up failure.
func (c *PersistChecker) Check(ctx context.Context, identifiers []string, want PersistWant) ([]PersistStatus, error) {
	if want.At.IsZero() {
		want.At = time.Now()
	}
	out := make([]PersistStatus, len(identifiers))
	names := map[string][]int{} // record name → indexes into out
	for i, id := range identifiers {
		nid, err := NormalizeDomain(id)
		if err != nil {
			return nil, fmt.Errorf("checking dns-persist-01 records: %w", err)
		}
		name, err := PersistName(nid)
		if err != nil {
			return nil, fmt.Errorf("checking dns-persist-01 records: %w", err)
		}
		out[i] = PersistStatus{Identifier: nid, Name: name}
		names[name] = append(names[name], i)
	}
	cache := newLookupCache()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, prepareConcurrency)
	)
	for name, idx := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t, err := c.s.resolveTarget(ctx, cache, name)
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("looking up %s: %w", name, err))
				mu.Unlock()
				return
			}
			answers := c.askAll(ctx, t)
			for _, i := range idx {
				st := &out[i]
				st.FQDN, st.Zone = t.FQDN, t.Zone.Name
				wildcard := strings.HasPrefix(st.Identifier, "*.")
				for _, a := range answers {
					srv := PersistServer{Nameserver: a.ns, Addr: a.addr, Values: a.values, Err: a.err}
					if srv.Err == nil {
						srv.Err = judgePersist(a.values, want, wildcard)
					}
					st.Servers = append(st.Servers, srv)
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return out, errors.Join(errs...)
	}
	pe := &PersistError{}
	for _, st := range out {
		if !st.OK() {
			pe.Failed = append(pe.Failed, st)
		}
	}
	if len(pe.Failed) > 0 {
		return out, pe
	}
	return out, nil
}

type persistAnswer struct {
	ns     string
	addr   netip.AddrPort
	values []string
	err    error
}

// askAll asks each address of t's zone for the TXT values at t.FQDN.
// Addresses with no route from here are left out, as in the propagation
// wait; if none is left, the answer says so.
func (c *PersistChecker) askAll(ctx context.Context, t target) []persistAnswer {
	var out []persistAnswer
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ns := range t.Zone.Nameservers {
		for _, a := range ns.Addrs {
			wg.Go(func() {
				ans := persistAnswer{ns: ns.Name, addr: c.s.q.nsAddr(a)}
				r, err := c.s.q.authoritative(ctx, a, t.FQDN, dns.TypeTXT)
				switch {
				case err != nil && unreachable(err):
					c.s.log.LogAttrs(ctx, slog.LevelWarn, "name server address unreachable from here; not checking it",
						slog.String("ns", ns.Name), slog.String("addr", ans.addr.String()), errAttr(err))
					return
				case err != nil:
					ans.err = err
				case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
					ans.err = fmt.Errorf("answered %s", dns.RcodeToString[r.Rcode])
				case !r.Authoritative:
					ans.err = errors.New("not authoritative (a referral or lame server)")
				default:
					ans.values = txtValues(r, t.FQDN)
				}
				mu.Lock()
				out = append(out, ans)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if len(out) == 0 {
		return []persistAnswer{{ns: t.Zone.Name, err: errors.New("none of the zone's name server addresses is reachable from here")}}
	}
	slices.SortFunc(out, func(a, b persistAnswer) int {
		if c := strings.Compare(a.ns, b.ns); c != 0 {
			return c
		}
		return a.addr.Compare(b.addr)
	})
	return out
}

// judgePersist says why none of values authorizes, nil if one does. When
// some values name one of the CA's issuers, only those are reported:
// records for other CAs are no concern.
func judgePersist(values []string, want PersistWant, wildcard bool) error {
	if len(values) == 0 {
		return errors.New("no TXT record")
	}
	var ours, others []error
	for _, v := range values {
		r, err := acme.ParsePersistRecord(v)
		if err == nil {
			if err = r.Authorizes(want.Issuers, want.AccountURI, wildcard, want.At); err == nil {
				return nil
			}
		}
		err = fmt.Errorf("TXT %q: %w", v, err)
		if len(want.Issuers) == 0 || slices.Contains(want.Issuers, r.Issuer) {
			ours = append(ours, err)
		} else {
			others = append(others, err)
		}
	}
	if len(ours) == 0 {
		ours = others
	}
	msgs := make([]string, len(ours))
	for i, e := range ours {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// Withdraw removes the batch's records through the provider, whether or
// not this Solver published them: for standing records (dns-persist-01)
// that outlive the run that set them up. The provider gets no cleanup
// state, so it removes by name and value.
func (s *Solver) Withdraw(ctx context.Context, b *Batch) error {
	if b == nil || len(b.zones) == 0 {
		return errors.New("withdrawing: empty batch (use Prepare)")
	}
	for _, zb := range b.zones {
		zb.mu.Lock()
		for _, r := range zb.records {
			zb.present[r.ID] = true
		}
		zb.mu.Unlock()
	}
	return s.CleanUp(ctx, b)
}
