package core

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/storage"
)

// Reason says why a lineage is (or is not) renewed.
type Reason string

// Renewal reasons, as `renew --json` prints them.
const (
	ReasonARI      Reason = "ari"      // the CA's suggested window (RFC 9773) has begun
	ReasonExpiring Reason = "expiring" // less than a third of the lifetime is left
	ReasonForced   Reason = "forced"   // --force or --dry-run
	ReasonNotDue   Reason = "not-due"
)

// checkLockWait bounds waiting for a lineage's lock just to cache a check:
// an order running on it is no reason to stall the whole renew run.
const checkLockWait = 2 * time.Second

// RenewalCheck is the cached outcome of the last renewal check of one
// certificate (stored in its plan).
type RenewalCheck struct {
	// CertID is the ARI identifier (RFC 9773 §4.1) of the certificate
	// checked; a check of another certificate is stale.
	CertID string `json:"cert_id"`
	// Reason is where RenewAt comes from: ari or expiring.
	Reason Reason `json:"reason"`
	// WindowStart and WindowEnd are the CA's suggested window.
	WindowStart time.Time `json:"window_start,omitzero"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
	// RenewAt is the time picked at random in the window (RFC 9773 §4.2),
	// kept while the window stays the same so runs do not redraw it, or
	// the point where a third of the lifetime is left.
	RenewAt time.Time `json:"renew_at"`
	// NextCheck is when to ask the CA again (its Retry-After).
	NextCheck time.Time `json:"next_check"`
}

// Decision is whether one lineage is due.
type Decision struct {
	Plan   Plan
	Due    bool
	Reason Reason
	// Replaces is the ARI identifier of the live certificate, sent as
	// "replaces" by its renewal (RFC 9773 §5); empty without ARI.
	Replaces string
	// RenewAt is when the lineage is due; NextCheck when renew should look
	// again (the earlier of RenewAt and the CA's Retry-After).
	RenewAt, NextCheck time.Time
}

// Checker decides which lineages are due. It asks the CA only for renewal
// information (RFC 9773 §4.3), only when the cached answer in the plan is
// older than the CA's Retry-After, and never starts a provider.
type Checker struct {
	e      *Engine // its storage, HTTP client, logger and clock; no provider
	dryRun bool    // leave the cache untouched

	mu      sync.Mutex
	clients map[string]*caClient // by directory URL
}

// NewChecker returns a Checker over the plans in cfg.Storage (cfg.Provider
// is not used). dryRun leaves the stored plans untouched.
func NewChecker(cfg Config, dryRun bool) (*Checker, error) {
	e, err := newEngine(cfg)
	if err != nil {
		return nil, err
	}
	return &Checker{e: e, dryRun: dryRun, clients: map[string]*caClient{}}, nil
}

// client returns the ACME client of a CA with its directory fetched: one
// directory GET per CA however many lineages are checked at once.
func (c *Checker) client(ctx context.Context, dirURL string) (*acme.Client, error) {
	c.mu.Lock()
	e, ok := c.clients[dirURL]
	if !ok {
		e = &caClient{}
		c.clients[dirURL] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		cl, err := c.e.acmeClient(dirURL) // Config.ACME when it serves dirURL
		if err != nil {
			return nil, err
		}
		if _, err := cl.Directory(ctx); err != nil {
			return nil, err // not kept: the next lineage tries again
		}
		e.c = cl
	}
	return e.c, nil
}

type caClient struct {
	mu sync.Mutex
	c  *acme.Client
}

// Check decides whether plan's lineage is due: forced; else the CA's ARI
// window, from the cache while it is fresh; else, when the CA offers no
// ARI or cannot be asked, when less than a third of the lifetime is left.
func (c *Checker) Check(ctx context.Context, p Plan, force bool) (Decision, error) {
	d := Decision{Plan: p, Reason: ReasonNotDue}
	leaf, err := liveLeaf(ctx, c.e.store, p.Name)
	if err != nil {
		return d, err
	}
	now := c.e.now()
	id, idErr := acme.ARICertID(leaf)
	d.Replaces = id
	if force {
		d.Due, d.Reason, d.RenewAt, d.NextCheck = true, ReasonForced, now, now
		return d, nil
	}
	chk := p.Check
	if chk == nil || chk.CertID != id || !now.Before(chk.NextCheck) {
		fresh, err := c.ask(ctx, p, leaf, id, idErr, now)
		if err != nil {
			return d, err
		}
		if chk != nil && chk.CertID == id && chk.WindowStart.Equal(fresh.WindowStart) && chk.WindowEnd.Equal(fresh.WindowEnd) {
			fresh.RenewAt = chk.RenewAt // same window: keep the time drawn in it
		}
		chk = &fresh
		if !c.dryRun {
			c.saveCheck(ctx, p.Name, fresh)
		}
	}
	d.RenewAt, d.NextCheck = chk.RenewAt, chk.NextCheck
	if !now.Before(chk.RenewAt) {
		d.Due, d.Reason, d.NextCheck = true, chk.Reason, now
		return d, nil
	}
	if chk.RenewAt.Before(d.NextCheck) {
		d.NextCheck = chk.RenewAt
	}
	return d, nil
}

// ask fetches the ARI window of leaf, or falls back to its lifetime when
// the CA offers no ARI or is unreachable. A CA that cannot be trusted (a
// TLS failure: a missing --ca-bundle, say) is an error, not a fallback:
// the renewal it would decide could not be ordered either.
func (c *Checker) ask(ctx context.Context, p Plan, leaf *x509.Certificate, id string, idErr error, now time.Time) (RenewalCheck, error) {
	lifetime := leaf.NotAfter.Sub(leaf.NotBefore)
	byLifetime := RenewalCheck{CertID: id, Reason: ReasonExpiring, RenewAt: leaf.NotAfter.Add(-lifetime / 3)}
	byLifetime.NextCheck = byLifetime.RenewAt
	if idErr != nil {
		c.e.log.LogAttrs(ctx, slog.LevelDebug, "no ARI identifier; renewing by lifetime", slog.String("cert", p.Name), errAttr(idErr))
		return byLifetime, nil
	}
	cl, err := c.client(ctx, p.Directory)
	if err == nil {
		var ri acme.RenewalInfo
		ri, err = cl.GetRenewalInfo(ctx, id)
		if err == nil {
			return c.window(ctx, p, id, ri, now), nil
		}
	}
	switch {
	case errors.Is(err, acme.ErrNoRenewalInfo):
		return byLifetime, nil
	case isTLSError(err):
		return RenewalCheck{}, caErr("checking renewal information of "+p.Name+
			" (TLS: pass --ca-bundle, or fix the ca_bundle of its renewal plan)", err)
	}
	c.e.log.LogAttrs(ctx, slog.LevelWarn, "renewal information unavailable; renewing by lifetime", slog.String("cert", p.Name), errAttr(err))
	byLifetime.NextCheck = now // ask again next run
	return byLifetime, nil
}

// isTLSError reports whether err is a failed TLS handshake: a certificate
// not trusted or not valid for the host, or a server that speaks no TLS.
func isTLSError(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return true
	}
	_, ok := errors.AsType[tls.RecordHeaderError](err)
	return ok
}

// window is the check ARI's answer ri gives.
func (c *Checker) window(ctx context.Context, p Plan, id string, ri acme.RenewalInfo, now time.Time) RenewalCheck {
	w := ri.SuggestedWindow
	attrs := []slog.Attr{slog.String("cert", p.Name), slog.Time("window_start", w.Start), slog.Time("window_end", w.End)}
	level := slog.LevelDebug
	if ri.ExplanationURL != "" {
		level = slog.LevelInfo
		attrs = append(attrs, slog.String("explanation", ri.ExplanationURL))
	}
	c.e.log.LogAttrs(ctx, level, "renewal information", attrs...)
	return RenewalCheck{CertID: id, Reason: ReasonARI, WindowStart: w.Start, WindowEnd: w.End,
		RenewAt: w.RandomTime(), NextCheck: now.Add(ri.RetryAfter)}
}

// saveCheck caches chk in the stored plan. It re-reads the plan under the
// lineage's lock so a concurrent obtain's plan is never overwritten; a busy
// lock only costs the cache.
func (c *Checker) saveCheck(ctx context.Context, name string, chk RenewalCheck) {
	if err := updatePlan(ctx, c.e.store, name, checkLockWait, func(p *Plan) { p.Check = &chk }); err != nil {
		c.e.log.LogAttrs(ctx, slog.LevelDebug, "not caching the renewal check", slog.String("cert", name), errAttr(err))
	}
}

// updatePlan applies fn to the stored plan of name under its lock.
func updatePlan(ctx context.Context, s storage.Storage, name string, wait time.Duration, fn func(*Plan)) error {
	lctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	lock, err := s.Lock(lctx, storage.CertLock(name), lockLease)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
	p, err := LoadPlan(ctx, s, name)
	if err != nil {
		return err
	}
	fn(&p)
	return SavePlan(storage.WithFence(ctx, lock), s, p)
}

// liveLeaf reads the end-entity certificate of live/<name>.
func liveLeaf(ctx context.Context, s storage.Storage, name string) (*x509.Certificate, error) {
	b, err := s.Get(ctx, storage.LiveFileKey(name, storage.CertFile))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, kindErr(KindStorage, "lineage %s has a renewal plan but no certificate in live/%s: obtain it again", name, name)
	}
	if err != nil {
		return nil, &Error{Kind: KindStorage, Err: fmt.Errorf("reading certificate %s: %w", name, err)}
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, kindErr(KindStorage, "live/%s/cert.pem holds no certificate", name)
	}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, &Error{Kind: KindStorage, Err: fmt.Errorf("parsing live/%s/cert.pem: %w", name, err)}
	}
	return leaf, nil
}

// newOrder places the order, naming the certificate it replaces. A CA that
// refuses the order with the link (already replaced by an order that failed,
// or a CA that cannot find the certificate: Pebble 2.10.1 looks up the
// serial without the leading zero byte RFC 9773 §4.1 requires when its top
// bit is set, and answers serverInternal) gets a plain order instead:
// renewing matters more than the link. A rate limit is not the link's fault,
// so it is returned as it is.
//
// A dry run never names it: a CA accepts one replacement per certificate
// (RFC 9773 §5), and a rehearsal must not spend the real renewal's.
func (e *Engine) newOrder(ctx context.Context, client *acme.Client, acct acme.Account, req Request) (acme.Order, error) {
	if req.DryRun {
		req.Replaces = ""
	}
	or := acme.OrderRequest{Identifiers: acme.DNSIdentifiers(req.Domains...), Profile: req.Profile, Replaces: req.Replaces}
	order, err := client.NewOrder(ctx, acct, or)
	if p, ok := errors.AsType[*acme.Problem](err); ok && req.Replaces != "" && p.Type != acme.ProblemRateLimited {
		e.log.LogAttrs(ctx, slog.LevelWarn, "the CA refused the replacement link; ordering without it",
			slog.String("replaces", req.Replaces), errAttr(err))
		or.Replaces = ""
		order, err = client.NewOrder(ctx, acct, or)
	}
	return order, err
}

// certKey is the key for the new certificate: the lineage's current key
// when req.ReuseKey is set and it has one of the wanted type, else a fresh
// one.
func (e *Engine) certKey(ctx context.Context, req Request) (crypto.Signer, error) {
	if req.ReuseKey {
		b, err := e.store.Get(ctx, storage.LiveFileKey(req.CertName, storage.PrivKeyFile))
		switch {
		case err == nil:
			key, err := decodeKey(b)
			if err != nil {
				return nil, &Error{Kind: KindStorage, Err: fmt.Errorf("reusing key of %s: %w", req.CertName, err)}
			}
			if keyTypeOf(key) == req.KeyType {
				return key, nil
			}
			e.log.LogAttrs(ctx, slog.LevelWarn, "the lineage's key is of another type; generating a new one",
				slog.String("cert", req.CertName), slog.String("key_type", string(req.KeyType)))
		case !errors.Is(err, storage.ErrNotFound):
			return nil, &Error{Kind: KindStorage, Err: fmt.Errorf("reusing key of %s: %w", req.CertName, err)}
		}
	}
	return acme.GenerateKey(req.KeyType)
}

// keyTypeOf names the type of key, "" when it is none of KeyTypes.
func keyTypeOf(key crypto.Signer) acme.KeyType {
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return acme.KeyECDSAP256
		case elliptic.P384():
			return acme.KeyECDSAP384
		}
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return acme.KeyRSA2048
		case 3072:
			return acme.KeyRSA3072
		case 4096:
			return acme.KeyRSA4096
		}
	}
	return ""
}

// savePlan records the lineage after a stored certificate: the renewed
// plan as it was (this run's overrides are not saved), or a new one from
// req. The cached check belonged to the old certificate and is dropped.
func (e *Engine) savePlan(ctx context.Context, req Request, acct, method string, prev *Plan) error {
	p := planFor(req, acct, e.now())
	if req.Renewing != nil {
		p = *req.Renewing
		p.Account, p.Updated = acct, e.now().UTC()
	} else if prev != nil && req.Provider.Name == "" && req.Challenge != acme.ChallengeDNSPersist01 {
		p.Provider = prev.Provider // an Obtain by a caller that does not track providers
	}
	p.ChallengeUsed = method
	p.Check = nil
	return SavePlan(ctx, e.store, p)
}
