package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// RecordAPI is the shape of most REST DNS APIs: create one TXT record and
// learn its id, delete a record by id. [NewREST] builds a whole Provider
// on these two calls.
type RecordAPI interface {
	// CreateTXT creates one TXT record and returns the API's id for it.
	// An API that refuses an identical record returns an error that
	// Classify maps to CodeConflict (an *HTTPError 409 is one); with a
	// TXTFinder the existing record is then adopted.
	CreateTXT(ctx context.Context, r Record) (id string, err error)
	// DeleteTXT deletes the record with id. An *HTTPError 404 (the record
	// is already gone) counts as success.
	DeleteTXT(ctx context.Context, r Record, id string) error
}

// TXTFinder is an optional extra of a RecordAPI: the ids of the TXT
// records at r.FQDN that hold r.Value. With it, CleanUp works without the
// State Present returned (the host lost it in a crash), and a conflict on
// create adopts the identical record.
type TXTFinder interface {
	FindTXT(ctx context.Context, r Record) (ids []string, err error)
}

// TTLFinder is an optional extra of a RecordAPI: the TTL of the TXT
// records already at r.FQDN (found false when there are none). A DNS
// server keeps one TTL per name, so a value added at another TTL changes
// the TTL of the user's own values there; with a TTLFinder, NewREST
// creates the record with the existing TTL instead of r.TTL.
type TTLFinder interface {
	ExistingTTL(ctx context.Context, r Record) (ttl uint32, found bool, err error)
}

// TXT is one TXT record as an API lists it.
type TXT struct {
	ID    string
	Value string
	TTL   uint32
}

// TXTLister is an optional extra of a RecordAPI that stands for both
// TXTFinder and TTLFinder: every TXT record at r.FQDN (all pages; see
// [EachPage]). With it NewREST lists the name once before each create: a
// record already holding r.Value is adopted (so an API that stores
// duplicates gets none), else the new record takes the TTL of the first
// one listed. A TXTFinder or TTLFinder the API also has wins for its part.
type TXTLister interface {
	ListTXT(ctx context.Context, r Record) ([]TXT, error)
}

// RESTOptions tunes NewREST; zero values take the defaults.
type RESTOptions struct {
	// Concurrency bounds the API requests one provider has in flight, over
	// all calls; 0 means 4.
	Concurrency int
	// Attempts is how often one API request is tried when it fails with a
	// retryable error (429, 5xx, the network); 0 means 3. A 429's
	// Retry-After sets the wait before the next try.
	Attempts int
	// MaxWait caps the wait between tries; 0 means 10s. The caller's
	// deadline always wins.
	MaxWait time.Duration
	// CheckFirst looks for an identical record (TXTFinder) before creating
	// one, for APIs that store duplicates instead of refusing them. An API
	// with a TXTLister is always looked at first.
	CheckFirst bool
	// Log receives a debug record per API change; nil discards.
	Log *slog.Logger
}

// NewREST returns a Provider on api. It supplies what every REST provider
// needs and gets wrong alone:
//   - batches: every record of a call is handled, concurrently up to
//     Concurrency, and gets its own Result;
//   - the cleanup State: the record's id, so CleanUp deletes exactly what
//     Present made, from any process;
//   - idempotency: a conflict on create adopts the identical record, and a
//     delete of a record already gone succeeds;
//   - with a TXTLister or TTLFinder, the TTL of the records already at the
//     name, so the user's keep theirs;
//   - error classification ([Classify]) and retries of retryable errors;
//   - a record outside its zone is refused with CodeZoneNotFound.
//
// If api also implements ZoneLister, so does the result.
func NewREST(api RecordAPI, opt RESTOptions) Provider {
	opt = opt.withDefaults()
	r := &rest{api: api, opt: opt, sem: make(chan struct{}, opt.Concurrency)}
	r.find, _ = api.(TXTFinder)
	r.ttl, _ = api.(TTLFinder)
	if l, ok := api.(TXTLister); ok {
		if r.find == nil {
			r.find = listFinder{l}
		}
		if r.ttl == nil {
			r.list = l
		}
	}
	if zl, ok := api.(ZoneLister); ok {
		return restZones{r, zl}
	}
	return r
}

func (opt RESTOptions) withDefaults() RESTOptions {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 4
	}
	if opt.Attempts <= 0 {
		opt.Attempts = 3
	}
	if opt.MaxWait <= 0 {
		opt.MaxWait = 10 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return opt
}

type rest struct {
	api  RecordAPI
	find TXTFinder
	ttl  TTLFinder
	list TXTLister // used before a create when the API has no TTLFinder
	opt  RESTOptions
	sem  chan struct{} // bounds requests in flight
}

type restZones struct {
	*rest
	ZoneLister
}

// Present implements Provider.
func (p *rest) Present(ctx context.Context, recs []Record) ([]Result, error) {
	return p.each(ctx, recs, func(ctx context.Context, r Record) ([]byte, error) {
		id, err := p.create(ctx, r)
		return []byte(id), err
	})
}

// CleanUp implements Provider.
func (p *rest) CleanUp(ctx context.Context, recs []Record) ([]Result, error) {
	return p.each(ctx, recs, func(ctx context.Context, r Record) ([]byte, error) {
		return nil, p.remove(ctx, r)
	})
}

// each runs fn for every record concurrently and collects one Result each.
func (p *rest) each(ctx context.Context, recs []Record, fn func(context.Context, Record) ([]byte, error)) ([]Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Result, len(recs))
	var wg sync.WaitGroup
	for i, r := range recs {
		out[i].ID = r.ID
		if !InZone(r.FQDN, r.Zone) {
			out[i].Err = &Error{Code: CodeZoneNotFound, Message: fmt.Sprintf("%s is not in zone %s", r.FQDN, r.Zone)}
			continue
		}
		wg.Go(func() {
			state, err := fn(ctx, r)
			out[i].State, out[i].Err = state, Classify(err)
		})
	}
	wg.Wait()
	return out, nil
}

func (p *rest) create(ctx context.Context, r Record) (string, error) {
	if p.list != nil {
		// One listing answers both questions: is the value there, and at
		// what TTL does the name's set stand.
		recs, err := retry(ctx, p, func(ctx context.Context) ([]TXT, error) { return p.list.ListTXT(ctx, r) })
		if err != nil {
			return "", err
		}
		for _, x := range recs {
			if x.Value == r.Value {
				p.opt.Log.DebugContext(ctx, "record already present", "fqdn", r.FQDN, "id", x.ID)
				return x.ID, nil
			}
		}
		if len(recs) > 0 {
			r.TTL = recs[0].TTL
		}
	} else if p.opt.CheckFirst && p.find != nil {
		ids, err := retry(ctx, p, func(ctx context.Context) ([]string, error) { return p.find.FindTXT(ctx, r) })
		if err != nil || len(ids) > 0 {
			return first(ids), err
		}
	}
	if p.ttl != nil {
		type found struct {
			ttl uint32
			ok  bool
		}
		f, err := retry(ctx, p, func(ctx context.Context) (found, error) {
			ttl, ok, err := p.ttl.ExistingTTL(ctx, r)
			return found{ttl, ok}, err
		})
		if err != nil {
			return "", err
		}
		if f.ok {
			r.TTL = f.ttl // the name's one TTL stays as the user set it
		}
	}
	id, err := retry(ctx, p, func(ctx context.Context) (string, error) { return p.api.CreateTXT(ctx, r) })
	if e := Classify(err); e != nil && e.Code == CodeConflict && p.find != nil {
		ids, ferr := retry(ctx, p, func(ctx context.Context) ([]string, error) { return p.find.FindTXT(ctx, r) })
		if ferr != nil {
			return "", ferr
		}
		if len(ids) == 0 {
			return "", &Error{Code: CodeConflict, Retryable: true, Message: "the API reported an identical record but lists none: " + e.Message}
		}
		p.opt.Log.DebugContext(ctx, "record already present", "fqdn", r.FQDN, "id", ids[0])
		return ids[0], nil
	}
	if err == nil {
		p.opt.Log.DebugContext(ctx, "record created", "fqdn", r.FQDN, "id", id)
	}
	return id, err
}

func (p *rest) remove(ctx context.Context, r Record) error {
	ids := []string{string(r.State)}
	if len(r.State) == 0 {
		// Present's answer was lost (the host crashed mid-call): find the
		// record by name and value instead.
		if p.find == nil {
			return &Error{Code: CodeOther, Message: fmt.Sprintf("no cleanup state for %s, and the API cannot look records up", r.FQDN)}
		}
		var err error
		if ids, err = retry(ctx, p, func(ctx context.Context) ([]string, error) { return p.find.FindTXT(ctx, r) }); err != nil {
			return err
		}
	}
	for _, id := range ids {
		_, err := retry(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, p.api.DeleteTXT(ctx, r, id) })
		var he *HTTPError
		if errors.As(err, &he) && he.Status == http.StatusNotFound {
			continue // already gone: CleanUp is idempotent
		}
		if err != nil {
			return err
		}
		p.opt.Log.DebugContext(ctx, "record deleted", "fqdn", r.FQDN, "id", id)
	}
	return nil
}

// retry runs one API request under the concurrency bound, again after a
// retryable failure, waiting as a 429's Retry-After says or backing off.
func retry[T any](ctx context.Context, p *rest, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return zero, ctx.Err()
		}
		v, err := fn(ctx)
		<-p.sem
		e := Classify(err)
		if e == nil || !e.Retryable || attempt >= p.opt.Attempts || ctx.Err() != nil {
			return v, err
		}
		d := wait
		var he *HTTPError
		if errors.As(err, &he) && he.RetryAfter > 0 {
			d = he.RetryAfter
		}
		if d > p.opt.MaxWait {
			return v, err // waiting that long is the host's decision
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return v, err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
		wait *= 2
	}
}

// listFinder is the TXTFinder of a TXTLister.
type listFinder struct{ TXTLister }

func (l listFinder) FindTXT(ctx context.Context, r Record) (ids []string, err error) {
	recs, err := l.ListTXT(ctx, r)
	for _, x := range recs {
		if x.Value == r.Value {
			ids = append(ids, x.ID)
		}
	}
	return ids, err
}

func first(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// RelativeName is fqdn relative to zone, as most REST APIs name records:
// "@" at the apex, else the labels below the zone without a trailing dot
// ("_acme-challenge.www"). A name outside zone comes back as given.
func RelativeName(fqdn, zone string) string {
	switch {
	case !InZone(fqdn, zone):
		return fqdn
	case len(fqdn) == len(zone):
		return "@"
	case zone == ".":
		return strings.TrimSuffix(fqdn, ".")
	}
	return fqdn[:len(fqdn)-len(zone)-1]
}

// InZone reports whether fqdn is zone or a name below it (both absolute,
// compared without case).
func InZone(fqdn, zone string) bool {
	fqdn, zone = strings.ToLower(fqdn), strings.ToLower(zone)
	if zone == "" || !strings.HasSuffix(zone, ".") {
		return false
	}
	return zone == "." || fqdn == zone || strings.HasSuffix(fqdn, "."+zone)
}
