package core

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/core/storage"
)

// accountRecord is account.json: what zonecert remembers of an account
// besides its key (key.pem beside it).
type accountRecord struct {
	URL       string    `json:"url"`
	Directory string    `json:"directory"`
	Email     string    `json:"email,omitempty"`
	Created   time.Time `json:"created"`
	// Status is set once `account deactivate` ran; orders skip such an
	// account without asking the CA.
	Status string `json:"status,omitempty"`
}

// caKey is the storage segment of a CA: its directory host (and port).
func caKey(directoryURL string) string {
	u, err := url.Parse(directoryURL)
	if err != nil || u.Host == "" {
		return storage.SafeSegment(directoryURL)
	}
	return storage.SafeSegment(u.Host)
}

// account returns the stored account for this CA and email, checked with the
// CA (RFC 8555 §7.3.1 onlyReturnExisting), or registers a new one and stores
// it. An account the CA no longer knows (a test CA restarted, say) is
// replaced.
func (e *Engine) account(ctx context.Context, client *acme.Client, dir acme.Directory, req Request) (acme.Account, error) {
	if acct, ok, err := e.findAccount(ctx, client, req); err != nil || ok {
		return acct, err
	}
	ca := caKey(req.DirectoryURL)
	// Concurrent orders (a daemon's first storm, parallel runs) would each
	// register an account: the first registers, the others find it.
	lock, err := e.store.Lock(ctx, storage.AccountLock(ca), lockLease)
	if err != nil {
		return acme.Account{}, &Error{Kind: KindStorage, Err: fmt.Errorf("locking accounts of %s: %w", ca, err)}
	}
	defer func() {
		cctx, cancel := detached(ctx)
		defer cancel()
		_ = lock.Release(cctx)
	}()
	if acct, ok, err := e.findAccount(ctx, client, req); err != nil || ok {
		return acct, err
	}
	if dir.Meta.TermsOfService != "" && !req.AgreeTOS {
		return acme.Account{}, kindErr(KindInput,
			"registering an account needs agreement to the CA's terms of service (%s): pass --agree-tos", dir.Meta.TermsOfService)
	}
	if (dir.Meta.ExternalAccountRequired || knownEAB(req.DirectoryURL)) && req.EAB == nil {
		return acme.Account{}, eabMissing(req.DirectoryURL)
	}
	key, err := acme.GenerateKey(acme.KeyECDSAP256)
	if err != nil {
		return acme.Account{}, err
	}
	nar := acme.NewAccountRequest{TermsOfServiceAgreed: req.AgreeTOS}
	if req.Email != "" {
		nar.Contact = []string{"mailto:" + req.Email}
	}
	if req.EAB != nil {
		nar.ExternalAccountBinding = &acme.ExternalAccountBinding{KeyID: req.EAB.KID, HMACKey: req.EAB.HMAC}
	}
	acct, err := client.NewAccount(ctx, key, nar)
	if err != nil {
		return acme.Account{}, caErr("registering account", err)
	}
	id := storage.SafeSegment(path.Base(acct.URL))
	keyPEM, err := encodeKey(key)
	if err != nil {
		return acme.Account{}, err
	}
	rec, err := json.MarshalIndent(accountRecord{URL: acct.URL, Directory: req.DirectoryURL, Email: req.Email, Created: e.now().UTC()}, "", "  ")
	if err != nil {
		return acme.Account{}, err
	}
	// The key first: an account.json without its key would be useless.
	prefix := storage.AccountKey(ca, id)
	if err := e.store.Put(ctx, path.Join(prefix, storage.AccountKeyFile), keyPEM, true); err != nil {
		return acme.Account{}, &Error{Kind: KindStorage, Err: fmt.Errorf("storing account key: %w", err)}
	}
	if err := e.store.Put(ctx, path.Join(prefix, storage.AccountFile), append(rec, '\n'), true); err != nil {
		return acme.Account{}, &Error{Kind: KindStorage, Err: fmt.Errorf("storing account: %w", err)}
	}
	e.observe(ctx, progress.Event{Stage: progress.Account, Detail: "registered " + acct.URL})
	return acct, nil
}

// findAccount returns the stored account for this CA and email that the CA
// still knows and holds valid; ok is false when there is none.
func (e *Engine) findAccount(ctx context.Context, client *acme.Client, req Request) (acct acme.Account, ok bool, err error) {
	ca := caKey(req.DirectoryURL)
	ids, err := e.store.List(ctx, storage.CAKey(ca))
	if err != nil {
		return acme.Account{}, false, &Error{Kind: KindStorage, Err: fmt.Errorf("listing accounts: %w", err)}
	}
	for _, id := range ids {
		rec, key, err := e.loadAccount(ctx, storage.AccountKey(ca, id))
		if err != nil {
			e.log.LogAttrs(ctx, slog.LevelWarn, "skipping unreadable account", slog.String("account", id), errAttr(err))
			continue
		}
		if rec.Email != req.Email || rec.Status == acme.StatusDeactivated {
			continue
		}
		acct, err := client.FindAccount(ctx, key)
		if acme.IsProblem(err, acme.ProblemAccountDoesNotExist) {
			e.log.LogAttrs(ctx, slog.LevelInfo, "stored account unknown to the CA", slog.String("account", rec.URL))
			continue
		}
		if err != nil {
			return acme.Account{}, false, caErr("looking up account", err)
		}
		if acct.Status != "" && acct.Status != acme.StatusValid {
			continue
		}
		e.observe(ctx, progress.Event{Stage: progress.Account, Detail: "reusing " + acct.URL})
		return acct, true, nil
	}
	return acme.Account{}, false, nil
}

func (e *Engine) loadAccount(ctx context.Context, prefix string) (accountRecord, crypto.Signer, error) {
	var rec accountRecord
	b, err := e.store.Get(ctx, path.Join(prefix, storage.AccountFile))
	if err != nil {
		return rec, nil, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, nil, fmt.Errorf("parsing account.json: %w", err)
	}
	kb, err := e.store.Get(ctx, path.Join(prefix, storage.AccountKeyFile))
	if err != nil {
		return rec, nil, err
	}
	key, err := decodeKey(kb)
	if err != nil {
		return rec, nil, err
	}
	return rec, key, nil
}

// caErr wraps an ACME failure as KindCA, or KindInput when the CA said the
// request itself was bad in a way the user controls.
func caErr(what string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return &Error{Kind: KindCA, Err: fmt.Errorf("%s: %w", what, err)}
}

// knownEAB says whether dirURL is a well-known CA that needs External
// Account Binding.
func knownEAB(dirURL string) bool {
	c, ok := knownCAByURL(dirURL)
	return ok && c.EAB
}

// eabMissing is the error for a registration without the External Account
// Binding its CA requires; it names a well-known CA.
func eabMissing(dirURL string) error {
	who := "this CA"
	if c, ok := knownCAByURL(dirURL); ok {
		who = c.Name
	}
	return kindErr(KindInput, "%s requires External Account Binding to register an account: "+
		"get a key ID and MAC key from the CA, then pass --eab-kid KID with the MAC key in ZONECERT_EAB_HMAC", who)
}
