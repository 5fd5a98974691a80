package core

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/core/storage"
	"github.com/zonecert/zonecert/plugin"
)

// Timeouts of the engine's own steps; the caller's ctx can only shorten them.
const (
	validationTimeout = 5 * time.Minute  // the CA checking all challenges
	finalizeTimeout   = 5 * time.Minute  // ready → valid, download included
	cleanupTimeout    = 2 * time.Minute  // removing records, deactivating
	lockLease         = 30 * time.Minute // bounds an order's hold on its name
	pollInterval      = 250 * time.Millisecond
)

// Config holds what the engine consumes. Storage is required.
type Config struct {
	// Storage keeps accounts, certificates and the cleanup journal.
	Storage storage.Storage
	// Provider publishes TXT records (a running plugin, usually). It may
	// be nil for dns-persist-01, which writes no records.
	Provider plugin.Provider
	// ProviderInstance names Provider and its settings in the journal, so
	// records are only ever removed through the instance that presented
	// them. Empty means Provider's Fingerprint() method (plugin/host.Client
	// has one), else its metadata name.
	ProviderInstance string
	// HTTPClient talks to the CA; nil means a default client.
	HTTPClient *http.Client
	// Observer receives progress; nil ignores it.
	Observer progress.Observer
	// Logger gets diagnostic records; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AllowInsecureHTTP permits an http:// ACME directory (tests only).
	AllowInsecureHTTP bool
	// ACME, when set, is used for requests to its directory (see
	// NewACMEClient); other directories get a client of their own.
	ACME *acme.Client
	// DNS, when set, shares authoritative name server answers between the
	// orders of engines that hold the same one (dns01.Shared).
	DNS *dns01.Shared
	// Preflight, when set, runs the cheap checks before each newOrder
	// (core/preflight); a sure failure stops the order there.
	Preflight Preflighter
	// LiveOwners, when set, is shared by the engines of one process that
	// use the same Storage, so each order's recovery knows the others'
	// owners alive without storage I/O; nil means the Engine's own.
	LiveOwners *LiveOwners
}

// Engine runs certificate orders. It is safe for concurrent use; orders for
// the same certificate name are serialized by a storage lock.
type Engine struct {
	store     storage.Storage
	provider  plugin.Provider
	http      *http.Client
	obs       progress.Observer
	provName  string // for progress events, where the provider says it
	provInst  string // journaled with each record (Config.ProviderInstance)
	log       *slog.Logger
	now       func() time.Time
	allowHTTP bool
	acme      *acme.Client
	dns       *dns01.Shared
	pre       Preflighter
	live      *LiveOwners
}

// New validates cfg and returns an Engine. It does no I/O. A nil Provider
// is allowed: such an engine can order with dns-persist-01 only, and
// revoke.
func New(cfg Config) (*Engine, error) {
	return newEngine(cfg)
}

func newEngine(cfg Config) (*Engine, error) {
	if cfg.Storage == nil {
		return nil, errors.New("core: storage is required")
	}
	e := &Engine{store: cfg.Storage, provider: cfg.Provider, http: cfg.HTTPClient,
		obs: cfg.Observer, log: cfg.Logger, now: cfg.Now, allowHTTP: cfg.AllowInsecureHTTP,
		acme: cfg.ACME, dns: cfg.DNS, pre: cfg.Preflight, live: cfg.LiveOwners}
	if e.live == nil {
		e.live = &LiveOwners{}
	}
	if e.obs == nil {
		e.obs = progress.Discard()
	}
	if m, ok := cfg.Provider.(interface{ Metadata() plugin.Metadata }); ok {
		e.provName = m.Metadata().Name
	}
	e.provInst = cfg.ProviderInstance
	if i, ok := cfg.Provider.(interface{ Fingerprint() string }); ok && e.provInst == "" {
		e.provInst = i.Fingerprint()
	}
	if e.provInst == "" {
		e.provInst = e.provName
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e, nil
}

// observe stamps ev with the clock and the provider and reports it.
func (e *Engine) observe(ctx context.Context, ev progress.Event) {
	if ev.Time.IsZero() {
		ev.Time = e.now()
	}
	if ev.Provider == "" {
		ev.Provider = e.provName
	}
	e.obs.Observe(ctx, ev)
}

func errAttr(err error) slog.Attr { return slog.String("error", err.Error()) }

// detached is a context for cleanup that outlives the caller's cancellation
// (an interrupted run must still remove its records) but not forever.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// Obtain runs one order end to end (docs/DESIGN.md, "The path of one
// challenge record"): account, the choice of validation method
// (Request.Challenge; a dns-persist-01 record is checked before the order),
// newOrder, a record for every pending authorization (one batch per zone,
// one wait for all; none for dns-persist-01), validation, finalization with
// a fresh key, chain download and atomic storage. Challenge records are
// removed and pending authorizations deactivated on every path, with a
// detached context; a removal that fails is reported in
// Result.CleanupErrors, not as the order's failure.
//
// The lineage's renewal plan is saved after the certificate (plan.go); an
// existing lineage of another CA is refused unless req.Force. req.Replaces
// links the order to the certificate it renews (RFC 9773 §5), req.ReuseKey
// keeps the lineage's key, and req.DryRun stores neither certificate nor
// plan.
//
// Nothing is written before the CA has answered: bad names and an
// unreachable CA leave the state directory untouched.
func (e *Engine) Obtain(ctx context.Context, req Request) (*Result, error) {
	start := e.now()
	req, err := NormalizeRequest(req)
	if err != nil {
		return nil, err
	}
	if needsProvider(req.Challenge) && e.provider == nil {
		return nil, kindErr(KindInput, "%s needs a DNS provider; only dns-persist-01 works without one", req.Challenge)
	}
	client, err := e.acmeClient(req.DirectoryURL)
	if err != nil {
		return nil, &Error{Kind: KindInput, Err: err}
	}
	dir, err := client.Directory(ctx)
	if err != nil {
		return nil, caErr("contacting the CA", err)
	}
	if req.Profile != "" && len(dir.Meta.Profiles) > 0 {
		if _, ok := dir.Meta.Profiles[req.Profile]; !ok {
			return nil, kindErr(KindInput, "the CA offers no profile %q (it offers %v)", req.Profile, profileNames(dir.Meta.Profiles))
		}
	}
	owner := storage.OwnerLock(newOwnerID())
	var solver *dns01.Solver
	journal := &storeJournal{s: e.store, live: e.live}
	if e.provider != nil {
		if solver, err = e.newSolver(req, journal, owner); err != nil {
			return nil, &Error{Kind: KindInput, Err: err}
		}
	}

	lock, err := e.store.Lock(ctx, storage.CertLock(req.CertName), lockLease)
	if err != nil {
		return nil, &Error{Kind: KindStorage, Err: fmt.Errorf("locking %s: %w", req.CertName, err)}
	}
	defer func() {
		cctx, cancel := detached(ctx)
		defer cancel()
		_ = lock.Release(cctx)
	}()
	// Every write from here on is fenced by the certificate's lock: on a
	// backend with leases, an order that paused past its lease cannot
	// overwrite the next holder's result (storage.ErrFenced).
	ctx = storage.WithFence(ctx, lock)
	// Deferred after the cert lock, so released before it, and after the
	// records are cleaned up (authorize does that before returning).
	ownerLock, err := e.store.TryLock(ctx, owner, ownerLease)
	if err != nil {
		return nil, &Error{Kind: KindStorage, Err: fmt.Errorf("taking owner lock: %w", err)}
	}
	e.live.add(owner)
	defer func() {
		e.live.remove(owner) // before the lock is free (LiveOwners)
		cctx, cancel := detached(ctx)
		defer cancel()
		_ = ownerLock.Release(cctx)
	}()
	journal.lease = storage.LeaseOf(ownerLock)
	prev, err := e.checkLineage(ctx, req)
	if err != nil {
		return nil, err
	}
	var cleanupErrs ErrorList
	if solver != nil {
		if n, err := solver.Recover(ctx); err != nil {
			// Leftovers of an earlier crash are not this order's problem.
			e.log.LogAttrs(ctx, slog.LevelWarn, "cleaning up records of an earlier run", errAttr(err))
			cleanupErrs = append(cleanupErrs, fmt.Errorf("cleaning up records of an earlier run: %w", err))
		} else if n > 0 {
			e.log.LogAttrs(ctx, slog.LevelInfo, "removed challenge records left by an earlier run", slog.Int("records", n))
		}
	}

	acct, err := e.account(ctx, client, dir, req)
	if err != nil {
		return nil, err
	}
	// dns-persist-01 needs the account URI to check the record, and the
	// check comes before the order: a bad record places no order.
	method, err := e.chooseMethod(ctx, req, dir, acct)
	if err != nil {
		return nil, err
	}
	if err := e.preflight(ctx, req, method, dir, acct); err != nil {
		return nil, err
	}
	order, err := e.newOrder(ctx, client, acct, req)
	if err != nil {
		return nil, caErr("creating order", err)
	}
	e.observe(ctx, progress.Event{Stage: progress.Order, Detail: order.URL})
	ok := false
	defer func() {
		if ok {
			return
		}
		cctx, cancel := detached(ctx)
		defer cancel()
		if err := client.DeactivatePendingAuthorizations(cctx, acct, order); err != nil {
			e.log.LogAttrs(cctx, slog.LevelWarn, "deactivating pending authorizations", errAttr(err))
		}
	}()

	var cleanupErr error
	method, cleanupErr, err = e.authorize(ctx, client, acct, order, solver, req, method, dir.Meta.CAAIdentities)
	if err != nil {
		return nil, err
	}
	if cleanupErr != nil {
		cleanupErrs = append(cleanupErrs, cleanupErr)
	}
	key, chain, err := e.finalize(ctx, client, acct, order, req)
	if err != nil {
		return nil, err
	}
	var files Files
	if !req.DryRun {
		if files, err = e.storeCertificate(ctx, req.CertName, chain, key); err != nil {
			return nil, err
		}
	}
	ok = true
	leaf := chain.Leaf()
	e.observe(ctx, progress.Event{Stage: progress.Stored, Detail: files.FullChain})
	res := &Result{
		CertName: req.CertName, Domains: req.Domains, Files: files,
		Serial: fmt.Sprintf("%x", leaf.SerialNumber), Issuer: leaf.Issuer.String(),
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, KeyType: req.KeyType,
		Account: acct.URL, Order: order.URL, Challenge: method, Elapsed: Duration(e.now().Sub(start)),
		CleanupErrors: cleanupErrs, DryRun: req.DryRun, Replaces: order.Replaces,
	}
	if req.DryRun {
		return res, nil
	}
	// The certificate is in place; a plan that fails to save is reported
	// but does not undo it.
	return res, e.savePlan(ctx, req, acct.URL, method, prev)
}

// newSolver builds a Solver journaling to journal; its entries name owner
// (empty: the Solver's own) and the provider instance, and Recover asks the
// journal, when it can tell, whether other owners are gone.
func (e *Engine) newSolver(req Request, journal dns01.Journal, owner string) (*dns01.Solver, error) {
	owners, _ := journal.(dns01.Owners)
	return dns01.NewSolver(dns01.Config{
		Resolvers:          req.Resolvers,
		NameserverPort:     req.NameserverPort,
		PropagationTimeout: req.PropagationTimeout,
		Wait:               req.Wait,
		Aliases:            req.ChallengeAliases,
		ZoneOverrides:      req.Zones,
		Logger:             e.log,
		Observer:           progress.ObserverFunc(e.observe),
		Now:                e.now,
		Owner:              owner,
		Owners:             owners,
		Provider:           e.provInst,
		Shared:             e.dns,
	}, e.provider, journal)
}

func profileNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// finalize waits for the order to be ready, sends a CSR for a fresh key
// (one key per certificate, never reused), waits for issuance and downloads
// the chain the user prefers.
func (e *Engine) finalize(ctx context.Context, client *acme.Client, acct acme.Account, order acme.Order, req Request) (crypto.Signer, acme.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, finalizeTimeout)
	defer cancel()
	order, err := client.PollOrder(ctx, acct, order.URL)
	if err != nil {
		return nil, acme.Certificate{}, caErr("waiting for the order to be ready", err)
	}
	e.observe(ctx, progress.Event{Stage: progress.Finalizing})
	key, err := e.certKey(ctx, req)
	if err != nil {
		return nil, acme.Certificate{}, err
	}
	csr, err := createCSR(key, req.Domains)
	if err != nil {
		return nil, acme.Certificate{}, err
	}
	order, err = client.FinalizeOrder(ctx, acct, order, csr)
	if err != nil {
		return nil, acme.Certificate{}, caErr("finalizing order", err)
	}
	chains, err := client.GetCertificateChains(ctx, acct, order.Certificate)
	if err != nil {
		return nil, acme.Certificate{}, caErr("downloading certificate", err)
	}
	chain, matched := acme.PreferredChain(chains, req.PreferredChain)
	if req.PreferredChain != "" && !matched {
		e.log.LogAttrs(ctx, slog.LevelWarn, "no chain from the preferred issuer; using the default", slog.String("preferred", req.PreferredChain))
	}
	if err := checkLeaf(chain, key, req.Domains); err != nil {
		return nil, acme.Certificate{}, &Error{Kind: KindCA, Err: err}
	}
	e.observe(ctx, progress.Event{Stage: progress.Issued, Detail: "chain to " + chain.IssuerCN()})
	return key, chain, nil
}
