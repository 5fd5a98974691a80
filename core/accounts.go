package core

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/storage"
)

// AccountRequest names an account as orders find it: its CA's directory
// and its contact email. AgreeTOS and EAB matter to RegisterAccount only.
type AccountRequest struct {
	DirectoryURL string
	Email        string
	AgreeTOS     bool
	EAB          *EAB
}

// AccountInfo is a stored account, as `account show` and `account list`
// print it.
type AccountInfo struct {
	// URI is the account URL: dns-persist-01 records and CAA accounturi
	// name it.
	URI       string   `json:"uri"`
	Directory string   `json:"directory"`
	Email     string   `json:"email,omitempty"`
	Contact   []string `json:"contact,omitempty"`
	// Status is the CA's word (valid, deactivated, revoked) for show, the
	// last one known here for list; empty when never asked.
	Status  string    `json:"status,omitempty"`
	KeyType string    `json:"key_type"`
	Created time.Time `json:"created"`
}

// Storage name of the key a rollover is about to install: written before
// the CA is asked, so that a crash between the CA's answer and storing the
// key loses nothing.
const nextAccountKeyFile = "next-key.pem"

func (r AccountRequest) check() error {
	if u, err := url.Parse(r.DirectoryURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return kindErr(KindInput, "bad ACME directory URL %q: want https://host/path", r.DirectoryURL)
	}
	if r.Email != "" && (!strings.Contains(r.Email, "@") || strings.ContainsAny(r.Email, " \t\r\n,")) {
		return kindErr(KindInput, "bad email address %q", r.Email)
	}
	return nil
}

func (e *Engine) accountClient(ctx context.Context, dirURL string) (*acme.Client, acme.Directory, error) {
	client, err := e.acmeClient(dirURL)
	if err != nil {
		return nil, acme.Directory{}, &Error{Kind: KindInput, Err: err}
	}
	dir, err := client.Directory(ctx)
	if err != nil {
		return nil, acme.Directory{}, caErr("contacting the CA", err)
	}
	return client, dir, nil
}

// RegisterAccount returns the account of req's CA and email, registering
// it when there is none (as an order would); created says which.
func (e *Engine) RegisterAccount(ctx context.Context, req AccountRequest) (info AccountInfo, created bool, err error) {
	if err := req.check(); err != nil {
		return AccountInfo{}, false, err
	}
	client, dir, err := e.accountClient(ctx, req.DirectoryURL)
	if err != nil {
		return AccountInfo{}, false, err
	}
	r := Request{DirectoryURL: req.DirectoryURL, Email: req.Email, AgreeTOS: req.AgreeTOS, EAB: req.EAB}
	acct, found, err := e.findAccount(ctx, client, r)
	if err != nil {
		return AccountInfo{}, false, err
	}
	if !found {
		if acct, err = e.account(ctx, client, dir, r); err != nil {
			return AccountInfo{}, false, err
		}
	}
	st, err := e.storedAccount(ctx, req)
	if err != nil {
		return AccountInfo{}, false, err
	}
	info = st.info()
	info.Status, info.Contact = acct.Status, acct.Contact
	return info, !found, nil
}

// storedAcct is one account on disk.
type storedAcct struct {
	prefix string
	rec    accountRecord
	key    crypto.Signer
}

func (s storedAcct) info() AccountInfo {
	return AccountInfo{URI: s.rec.URL, Directory: s.rec.Directory, Email: s.rec.Email,
		Status: s.rec.Status, KeyType: accountKeyType(s.key), Created: s.rec.Created}
}

// storedAccount finds the stored account of req's CA and email: the one
// an order would use (a valid one) first, else the newest.
func (e *Engine) storedAccount(ctx context.Context, req AccountRequest) (storedAcct, error) {
	ca := caKey(req.DirectoryURL)
	ids, err := e.store.List(ctx, storage.CAKey(ca))
	if err != nil {
		return storedAcct{}, &Error{Kind: KindStorage, Err: fmt.Errorf("listing accounts: %w", err)}
	}
	var found []storedAcct
	for _, id := range ids {
		prefix := storage.AccountKey(ca, id)
		rec, key, err := e.loadAccount(ctx, prefix)
		if err != nil || rec.Email != req.Email {
			continue
		}
		found = append(found, storedAcct{prefix: prefix, rec: rec, key: key})
	}
	if len(found) == 0 {
		who := "without an email"
		if req.Email != "" {
			who = "for email " + req.Email
		}
		return storedAcct{}, kindErr(KindInput, "no account with %s %s here: register one with `zonecert account register`", ca, who)
	}
	slices.SortFunc(found, func(a, b storedAcct) int {
		if av, bv := a.rec.Status != acme.StatusDeactivated, b.rec.Status != acme.StatusDeactivated; av != bv {
			if av {
				return -1
			}
			return 1
		}
		return b.rec.Created.Compare(a.rec.Created)
	})
	return found[0], nil
}

func (e *Engine) putRecord(ctx context.Context, s storedAcct) error {
	b, err := json.MarshalIndent(s.rec, "", "  ")
	if err != nil {
		return err
	}
	if err := e.store.Put(ctx, path.Join(s.prefix, storage.AccountFile), append(b, '\n'), true); err != nil {
		return &Error{Kind: KindStorage, Err: fmt.Errorf("storing account: %w", err)}
	}
	return nil
}

// ShowAccount returns the stored account of req's CA and email with what
// the CA says of it now (status, contact).
func (e *Engine) ShowAccount(ctx context.Context, req AccountRequest) (AccountInfo, error) {
	if err := req.check(); err != nil {
		return AccountInfo{}, err
	}
	st, err := e.storedAccount(ctx, req)
	if err != nil {
		return AccountInfo{}, err
	}
	info := st.info()
	if st.rec.Status == acme.StatusDeactivated {
		// The CA refuses every request of a deactivated account.
		return info, nil
	}
	client, _, err := e.accountClient(ctx, req.DirectoryURL)
	if err != nil {
		return AccountInfo{}, err
	}
	acct, err := client.GetAccount(ctx, acme.Account{Key: st.key, URL: st.rec.URL})
	if err != nil {
		return AccountInfo{}, caErr("fetching account", err)
	}
	info.Status, info.Contact = acct.Status, acct.Contact
	return info, nil
}

// ListAccounts lists every stored account, of every CA, from disk alone.
func (e *Engine) ListAccounts(ctx context.Context) ([]AccountInfo, error) {
	cas, err := e.store.List(ctx, storage.AccountsDir)
	if err != nil {
		return nil, &Error{Kind: KindStorage, Err: fmt.Errorf("listing accounts: %w", err)}
	}
	out := []AccountInfo{}
	for _, ca := range cas {
		ids, err := e.store.List(ctx, storage.CAKey(ca))
		if err != nil {
			return nil, &Error{Kind: KindStorage, Err: fmt.Errorf("listing accounts: %w", err)}
		}
		for _, id := range ids {
			rec, key, err := e.loadAccount(ctx, storage.AccountKey(ca, id))
			if err != nil {
				e.log.WarnContext(ctx, "skipping unreadable account", "account", id, "error", err.Error())
				continue
			}
			out = append(out, storedAcct{rec: rec, key: key}.info())
		}
	}
	return out, nil
}

// UpdateAccountEmail replaces the account's contact with email (none when
// empty), at the CA and here: later orders find it under the new email.
func (e *Engine) UpdateAccountEmail(ctx context.Context, req AccountRequest, email string) (AccountInfo, error) {
	if err := (AccountRequest{DirectoryURL: req.DirectoryURL, Email: email}).check(); err != nil {
		return AccountInfo{}, err
	}
	st, client, err := e.liveAccount(ctx, req)
	if err != nil {
		return AccountInfo{}, err
	}
	var contact []string
	if email != "" {
		contact = []string{"mailto:" + email}
	}
	acct, err := client.UpdateAccount(ctx, acme.Account{Key: st.key, URL: st.rec.URL}, contact)
	if err != nil {
		return AccountInfo{}, caErr("updating account", err)
	}
	st.rec.Email, st.rec.Status = email, acct.Status
	if err := e.putRecord(ctx, st); err != nil {
		return AccountInfo{}, err
	}
	info := st.info()
	info.Contact = acct.Contact
	return info, nil
}

// DeactivateAccount deactivates the account for good (RFC 8555 §7.3.6)
// and records that here, so orders no longer pick it.
func (e *Engine) DeactivateAccount(ctx context.Context, req AccountRequest) (AccountInfo, error) {
	st, client, err := e.liveAccount(ctx, req)
	if err != nil {
		return AccountInfo{}, err
	}
	acct, err := client.DeactivateAccount(ctx, acme.Account{Key: st.key, URL: st.rec.URL})
	if err != nil {
		return AccountInfo{}, caErr("deactivating account", err)
	}
	st.rec.Status = acct.Status
	if err := e.putRecord(ctx, st); err != nil {
		return AccountInfo{}, err
	}
	return st.info(), nil
}

// RolloverAccountKey gives the account a new key of the same type (RFC
// 8555 §7.3.5, keyChange). The new key is stored beside the old one before
// the CA is asked, and replaces it after: no crash loses the key the CA
// holds.
func (e *Engine) RolloverAccountKey(ctx context.Context, req AccountRequest) (AccountInfo, error) {
	st, client, err := e.liveAccount(ctx, req)
	if err != nil {
		return AccountInfo{}, err
	}
	kt, err := acme.ParseKeyType(accountKeyType(st.key))
	if err != nil {
		kt = acme.KeyECDSAP256
	}
	key, err := acme.GenerateKey(kt)
	if err != nil {
		return AccountInfo{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return AccountInfo{}, err
	}
	next := path.Join(st.prefix, nextAccountKeyFile)
	if err := e.store.Put(ctx, next, keyPEM, true); err != nil {
		return AccountInfo{}, &Error{Kind: KindStorage, Err: fmt.Errorf("storing the new account key: %w", err)}
	}
	if _, err := client.RolloverKey(ctx, acme.Account{Key: st.key, URL: st.rec.URL}, key); err != nil {
		cctx, cancel := detached(ctx)
		defer cancel()
		_ = e.store.Delete(cctx, next)
		return AccountInfo{}, caErr("rolling over account key", err)
	}
	// The CA holds the new key now: store it even if the caller gives up.
	cctx, cancel := detached(ctx)
	defer cancel()
	if err := e.store.Put(cctx, path.Join(st.prefix, storage.AccountKeyFile), keyPEM, true); err != nil {
		return AccountInfo{}, &Error{Kind: KindStorage, Err: fmt.Errorf(
			"the CA now holds the new account key, kept in %s, but storing it as %s failed: %w", next, storage.AccountKeyFile, err)}
	}
	_ = e.store.Delete(cctx, next)
	st.key = key
	return st.info(), nil
}

// liveAccount is the stored account of req and a client of its CA; a
// deactivated account is refused before the CA is asked.
func (e *Engine) liveAccount(ctx context.Context, req AccountRequest) (storedAcct, *acme.Client, error) {
	if err := req.check(); err != nil {
		return storedAcct{}, nil, err
	}
	st, err := e.storedAccount(ctx, req)
	if err != nil {
		return storedAcct{}, nil, err
	}
	if st.rec.Status == acme.StatusDeactivated {
		return storedAcct{}, nil, kindErr(KindInput, "account %s is deactivated", st.rec.URL)
	}
	client, _, err := e.accountClient(ctx, req.DirectoryURL)
	if err != nil {
		return storedAcct{}, nil, err
	}
	return st, client, nil
}

// accountKeyType names the key's type as --key-type spells it.
func accountKeyType(k crypto.Signer) string {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return "ec256"
		case elliptic.P384():
			return "ec384"
		}
	case *rsa.PrivateKey:
		return fmt.Sprintf("rsa%d", k.N.BitLen())
	}
	return "unknown"
}

// CheckRegistration reports, reading only, whether an order for req could
// get an account: one is stored for its CA and email, or the CA would
// register one (its terms of service agreed to, External Account Binding
// given where needed). The CLI asks before it writes anything, so a
// refused argument leaves no state behind.
func (e *Engine) CheckRegistration(ctx context.Context, req AccountRequest) error {
	if st, err := e.storedAccount(ctx, req); err == nil && st.rec.Status != acme.StatusDeactivated {
		return nil
	}
	needEAB := knownEAB(req.DirectoryURL) && req.EAB == nil
	if req.AgreeTOS && !needEAB {
		return nil
	}
	_, dir, err := e.accountClient(ctx, req.DirectoryURL)
	if err != nil {
		return err
	}
	if dir.Meta.TermsOfService != "" && !req.AgreeTOS {
		return kindErr(KindInput,
			"registering an account needs agreement to the CA's terms of service (%s): pass --agree-tos", dir.Meta.TermsOfService)
	}
	if (needEAB || dir.Meta.ExternalAccountRequired) && req.EAB == nil {
		return eabMissing(req.DirectoryURL)
	}
	return nil
}
