package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
)

// PersistRequest names the dns-persist-01 records to set up, show or
// remove (draft-ietf-acme-dns-persist). Of Request, Domains, DirectoryURL,
// Email and the DNS settings count.
type PersistRequest struct {
	Request
	// Wildcard adds policy=wildcard, so the record also authorizes
	// "*.<domain>". A domain given as "*.<domain>" implies it.
	Wildcard bool
	// Until is persistUntil; zero means the record does not expire. A time
	// in the past is refused.
	Until time.Time
	// Issuer is the CA's issuer domain name; empty means the first of the
	// CA's CAA identities (its directory's meta.caaIdentities).
	Issuer string
	// AccountURI is the account the record authorizes; empty means the
	// stored account for DirectoryURL and Email, which must exist.
	AccountURI string
}

// PersistEntry is one domain's standing record: what it needs and what
// each authoritative address serves.
type PersistEntry struct {
	// Domain is the name validated, without "*.".
	Domain string `json:"domain"`
	// Name is where the record goes, _validation-persist.<Domain>.
	Name string `json:"name"`
	// Record is the TXT value needed.
	Record string `json:"record"`
	// Servers is what each authoritative address serves; OK says whether
	// every one serves a record that authorizes.
	Servers []dns01.PersistServer `json:"-"`
	OK      bool                  `json:"ok"`
	// Problems are the reasons, one per address, when not OK.
	Problems []string `json:"problems,omitempty"`
}

// persistTarget is the resolved PersistRequest.
type persistTarget struct {
	account string
	issuers []string // the CA's issuer domain names (CAA identities)
	entries []PersistEntry
	ids     []string // identifiers to check, "*." where a wildcard is asked for
}

// PersistRecords works out the record each domain needs; it asks the CA
// for its directory and looks up the account, but changes nothing.
func (e *Engine) PersistRecords(ctx context.Context, req PersistRequest) ([]PersistEntry, error) {
	t, err := e.persistTarget(ctx, req)
	if err != nil {
		return nil, err
	}
	return t.entries, nil
}

func (e *Engine) persistTarget(ctx context.Context, req PersistRequest) (*persistTarget, error) {
	var err error
	if req.Request, err = NormalizeRequest(req.Request); err != nil {
		return nil, err
	}
	if !req.Until.IsZero() && !req.Until.After(e.now()) {
		return nil, kindErr(KindInput, "persistUntil (--until) %s is in the past: an expired record authorizes nothing", req.Until.UTC().Format(time.RFC3339))
	}
	client, err := acme.New(acme.Options{DirectoryURL: req.DirectoryURL, HTTPClient: e.http, Version: Version,
		Logger: e.log, AllowInsecureHTTP: e.allowHTTP})
	if err != nil {
		return nil, &Error{Kind: KindInput, Err: err}
	}
	dir, err := client.Directory(ctx)
	if err != nil {
		return nil, caErr("contacting the CA", err)
	}
	t := &persistTarget{account: req.AccountURI, issuers: dir.Meta.CAAIdentities}
	if t.account == "" {
		acct, ok, err := e.findAccount(ctx, client, req.Request)
		if err != nil {
			return nil, err
		}
		if !ok && req.AgreeTOS {
			// persist setup --agree-tos: register here, as an order would.
			if acct, err = e.account(ctx, client, dir, req.Request); err != nil {
				return nil, err
			}
			ok = true
		}
		if !ok {
			return nil, kindErr(KindInput, "no account with %s for email %q: the record names the account, so register one first "+
				"(zonecert account register, or pass --agree-tos here), or give its URI (--account-uri)", caKey(req.DirectoryURL), req.Email)
		}
		t.account = acct.URL
	}
	issuer := req.Issuer
	if issuer == "" {
		if len(dir.Meta.CAAIdentities) == 0 {
			return nil, kindErr(KindInput, "the CA names no CAA identity in its directory: give its issuer domain name")
		}
		issuer = dir.Meta.CAAIdentities[0]
	}
	seen := map[string]int{}
	for _, d := range req.Domains {
		base := strings.TrimPrefix(d, "*.")
		wild := req.Wildcard || base != d
		i, ok := seen[base]
		if !ok {
			name, err := dns01.PersistName(base)
			if err != nil {
				return nil, &Error{Kind: KindInput, Err: err}
			}
			i = len(t.entries)
			seen[base] = i
			t.entries = append(t.entries, PersistEntry{Domain: base, Name: name})
		}
		rec := acme.PersistRecord{Issuer: issuer, AccountURI: t.account, Wildcard: wild, Until: req.Until}
		if prev, err := acme.ParsePersistRecord(t.entries[i].Record); err == nil && prev.Wildcard {
			rec.Wildcard = true
		}
		if err := rec.Validate(); err != nil {
			return nil, &Error{Kind: KindInput, Err: err}
		}
		if len(rec.String()) > 255 {
			return nil, kindErr(KindInput, "the record for %s is %d octets, over the 255 of one TXT string", base, len(rec.String()))
		}
		t.entries[i].Record = rec.String()
	}
	for _, en := range t.entries {
		rec, _ := acme.ParsePersistRecord(en.Record)
		if rec.Wildcard {
			t.ids = append(t.ids, "*."+en.Domain)
		} else {
			t.ids = append(t.ids, en.Domain)
		}
	}
	return t, nil
}

// check fills in what the authoritative servers serve.
func (e *Engine) checkTarget(ctx context.Context, req Request, t *persistTarget) error {
	c, err := e.persistChecker(req)
	if err != nil {
		return &Error{Kind: KindInput, Err: err}
	}
	sts, err := c.Check(ctx, t.ids, dns01.PersistWant{Issuers: t.issuers, AccountURI: t.account, At: e.now()})
	if _, ok := errors.AsType[*dns01.PersistError](err); err != nil && !ok {
		return &Error{Kind: KindDNS, Err: err}
	}
	for i, st := range sts {
		en := &t.entries[i]
		en.Servers, en.OK, en.Problems = st.Servers, st.OK(), nil
		for _, s := range st.Servers {
			if s.Err != nil {
				en.Problems = append(en.Problems, fmt.Sprintf("%s (%s): %v", s.Nameserver, s.Addr, s.Err))
			}
		}
	}
	return nil
}

// PersistShow reports, for each domain, the record it needs and what each
// authoritative address serves. It changes nothing.
func (e *Engine) PersistShow(ctx context.Context, req PersistRequest) ([]PersistEntry, error) {
	t, err := e.persistTarget(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := e.checkTarget(ctx, req.Request, t); err != nil {
		return nil, err
	}
	return t.entries, nil
}

// PersistSetup publishes each domain's record through the provider, once,
// and waits until every authoritative address serves it; then it removes
// this account's other values at that name (an earlier setup with other
// settings), so the name converges on the record asked for. A domain whose
// record is served everywhere already is not published again. The records
// are not journaled: they are meant to stay, and no cleanup may remove them.
func (e *Engine) PersistSetup(ctx context.Context, req PersistRequest) ([]PersistEntry, error) {
	if e.provider == nil {
		return nil, kindErr(KindInput, "setting up dns-persist-01 records needs a DNS provider")
	}
	t, err := e.persistTarget(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := e.checkTarget(ctx, req.Request, t); err != nil {
		return nil, err
	}
	var add, stale []dns01.Challenge
	for _, en := range t.entries {
		if !servedEverywhere(en) {
			add = append(add, dns01.Challenge{Identifier: en.Domain, Value: en.Record})
		}
		for _, v := range accountValues(en, t.account) {
			if v != en.Record {
				stale = append(stale, dns01.Challenge{Identifier: en.Domain, Value: v})
			}
		}
	}
	if err := e.changePersist(ctx, req.Request, add, true); err != nil {
		return nil, err
	}
	if err := e.changePersist(ctx, req.Request, stale, false); err != nil {
		return nil, err
	}
	if err := e.checkTarget(ctx, req.Request, t); err != nil {
		return nil, err
	}
	return t.entries, nil
}

// PersistRemove removes, through the provider, every value at each
// domain's record name that names this account, and returns what was
// found. Other accounts' and other CAs' records stay.
func (e *Engine) PersistRemove(ctx context.Context, req PersistRequest) ([]PersistEntry, error) {
	if e.provider == nil {
		return nil, kindErr(KindInput, "removing dns-persist-01 records needs a DNS provider")
	}
	t, err := e.persistTarget(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := e.checkTarget(ctx, req.Request, t); err != nil {
		return nil, err
	}
	var chs []dns01.Challenge
	for _, en := range t.entries {
		for _, v := range accountValues(en, t.account) {
			chs = append(chs, dns01.Challenge{Identifier: en.Domain, Value: v})
		}
	}
	return t.entries, e.changePersist(ctx, req.Request, chs, false)
}

// changePersist publishes (and waits for) or withdraws standing records
// through the provider, with a journal that dies with the process: a later
// run's recovery must never remove them.
func (e *Engine) changePersist(ctx context.Context, req Request, chs []dns01.Challenge, publish bool) error {
	if len(chs) == 0 {
		return nil
	}
	req.ChallengeAliases = nil // aliases are for _acme-challenge names
	solver, err := e.newSolver(req, &dns01.MemJournal{}, "")
	if err != nil {
		return &Error{Kind: KindInput, Err: err}
	}
	batch, err := solver.PrepareLabel(ctx, dns01.PersistLabel, chs)
	if err != nil {
		return &Error{Kind: KindDNS, Err: fmt.Errorf("preparing dns-persist-01 records: %w", err)}
	}
	if publish {
		err = solver.Publish(ctx, batch, time.Time{})
	} else {
		err = solver.Withdraw(ctx, batch)
	}
	if err != nil {
		what := "publishing"
		if !publish {
			what = "removing"
		}
		return &Error{Kind: KindDNS, Err: fmt.Errorf("%s dns-persist-01 records: %w", what, err)}
	}
	return nil
}

// servedEverywhere: every authoritative address serves exactly en.Record.
func servedEverywhere(en PersistEntry) bool {
	for _, s := range en.Servers {
		if !slices.Contains(s.Values, en.Record) {
			return false
		}
	}
	return len(en.Servers) > 0
}

// accountValues are the values at en's name, on any address, that name
// account.
func accountValues(en PersistEntry, account string) []string {
	var out []string
	for _, s := range en.Servers {
		for _, v := range s.Values {
			if r, err := acme.ParsePersistRecord(v); err == nil && r.AccountURI == account && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}
