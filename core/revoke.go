package core

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/storage"
)

// ParseRevocationReason maps an RFC 5280 §5.3.1 reason name
// (keyCompromise, superseded, ...; case-insensitive) to its code.
func ParseRevocationReason(s string) (acme.RevocationReason, error) {
	switch strings.ToLower(s) {
	case "", "unspecified":
		return acme.ReasonUnspecified, nil
	case "keycompromise":
		return acme.ReasonKeyCompromise, nil
	case "affiliationchanged":
		return acme.ReasonAffiliationChanged, nil
	case "superseded":
		return acme.ReasonSuperseded, nil
	case "cessationofoperation":
		return acme.ReasonCessationOfOperation, nil
	case "privilegewithdrawn":
		return acme.ReasonPrivilegeWithdrawn, nil
	}
	return 0, fmt.Errorf("unknown revocation reason %q (want unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn)", s)
}

// RevokeRequest revokes a lineage's live certificate.
type RevokeRequest struct {
	CertName string
	Reason   acme.RevocationReason
	// CertKey, when set, signs the request instead of the account (RFC
	// 8555 §7.6), for when the account key is lost.
	CertKey crypto.Signer
	// DirectoryURL overrides the plan's CA; empty uses it.
	DirectoryURL string
}

// Revoke revokes the live certificate of a lineage at its CA, signed by the
// account that ordered it or by the certificate's own key. The cached
// renewal check is dropped, so the next renew asks the CA, whose ARI
// answer for a revoked certificate is "renew now".
func Revoke(ctx context.Context, cfg Config, rr RevokeRequest) error {
	e, err := newEngine(cfg)
	if err != nil {
		return err
	}
	p, err := LoadPlan(ctx, e.store, rr.CertName)
	if err != nil {
		return err
	}
	leaf, err := liveLeaf(ctx, e.store, rr.CertName)
	if err != nil {
		return err
	}
	dirURL := p.Directory
	if rr.DirectoryURL != "" {
		dirURL = rr.DirectoryURL
	}
	client, err := acme.New(acme.Options{DirectoryURL: dirURL, HTTPClient: e.http, Version: Version,
		Logger: e.log, AllowInsecureHTTP: e.allowHTTP, Now: e.now})
	if err != nil {
		return &Error{Kind: KindInput, Err: err}
	}
	if rr.CertKey != nil {
		err = client.RevokeCertificateWithKey(ctx, rr.CertKey, leaf.Raw, rr.Reason)
	} else {
		acct, aerr := e.planAccount(ctx, client, p, dirURL)
		if aerr != nil {
			return aerr
		}
		err = client.RevokeCertificate(ctx, acct, leaf.Raw, rr.Reason)
	}
	if err != nil {
		return caErr("revoking "+rr.CertName, err)
	}
	if err := updatePlan(ctx, e.store, rr.CertName, lockLease, func(p *Plan) { p.Check = nil }); err != nil {
		e.log.LogAttrs(ctx, slog.LevelWarn, "revoked, but the cached renewal check stays", slog.String("cert", rr.CertName), errAttr(err))
	}
	return nil
}

// planAccount loads the stored account that ordered the lineage.
func (e *Engine) planAccount(ctx context.Context, client *acme.Client, p Plan, dirURL string) (acme.Account, error) {
	ca := caKey(dirURL)
	ids, err := e.store.List(ctx, storage.CAKey(ca))
	if err != nil {
		return acme.Account{}, &Error{Kind: KindStorage, Err: fmt.Errorf("listing accounts: %w", err)}
	}
	for _, id := range ids {
		rec, key, err := e.loadAccount(ctx, storage.AccountKey(ca, id))
		if err != nil || (p.Account != "" && rec.URL != p.Account) {
			continue
		}
		acct, err := client.FindAccount(ctx, key)
		if err != nil {
			return acme.Account{}, caErr("looking up account", err)
		}
		return acct, nil
	}
	return acme.Account{}, kindErr(KindInput, "the account that ordered %s is not stored under %s: revoke with --key-file (the certificate's private key)", p.Name, storage.CAKey(ca))
}

// DeleteLineage removes a lineage: live/<name>, archive/<name> and its
// plan, the plan last so an interrupted delete can be run again. It holds
// the lineage's lock, so it never races an order.
func DeleteLineage(ctx context.Context, s storage.Storage, name string) error {
	if err := ValidateCertName(name); err != nil {
		return &Error{Kind: KindInput, Err: err}
	}
	_, perr := LoadPlan(ctx, s, name)
	live, lerr := s.List(ctx, storage.LiveKey(name))
	if errors.Is(perr, ErrNoLineage) && lerr == nil && len(live) == 0 {
		return &Error{Kind: KindInput, Err: fmt.Errorf("%w: %s", ErrNoLineage, name)}
	}
	lock, err := s.Lock(ctx, storage.CertLock(name), lockLease)
	if err != nil {
		return &Error{Kind: KindStorage, Err: fmt.Errorf("locking %s: %w", name, err)}
	}
	defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
	// List the archive first: one the store refuses (a planted link)
	// leaves the lineage whole rather than half deleted.
	versions, err := s.List(ctx, storage.ArchiveKey(name))
	if err != nil {
		return &Error{Kind: KindStorage, Err: err}
	}
	if err := s.Delete(ctx, storage.LiveKey(name)); err != nil {
		return &Error{Kind: KindStorage, Err: err}
	}
	for _, v := range versions {
		dir := path.Join(storage.ArchiveKey(name), v)
		files, err := s.List(ctx, dir)
		if err != nil {
			return &Error{Kind: KindStorage, Err: err}
		}
		for _, f := range files {
			if err := s.Delete(ctx, path.Join(dir, f)); err != nil {
				return &Error{Kind: KindStorage, Err: err}
			}
		}
		if err := s.Delete(ctx, dir); err != nil {
			return &Error{Kind: KindStorage, Err: err}
		}
	}
	if err := s.Delete(ctx, storage.ArchiveKey(name)); err != nil {
		return &Error{Kind: KindStorage, Err: err}
	}
	if err := s.Delete(ctx, storage.RenewalKey(name)); err != nil {
		return &Error{Kind: KindStorage, Err: err}
	}
	return nil
}
