package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/providers/dns/acmedns"

	"github.com/zonecert/zonecert/plugin"
)

// bridge is a plugin.Provider calling one lego provider.
type bridge struct {
	code string
	lego challenge.Provider
	log  *slog.Logger
	// mu makes calls into lego one at a time, as lego itself makes them:
	// not every lego provider is safe for concurrent use.
	mu sync.Mutex
}

// details are what lego needs for a record; they travel in Result.State
// too, so a fresh process can clean up a record the host journalled
// without them.
type details struct {
	Identifier       string `json:"identifier"`
	Token            string `json:"token"`
	KeyAuthorization string `json:"key_authorization"`
}

func (b *bridge) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	return b.each(ctx, recs, true)
}

func (b *bridge) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	return b.each(ctx, recs, false)
}

func (b *bridge) each(ctx context.Context, recs []plugin.Record, present bool) ([]plugin.Result, error) {
	out := make([]plugin.Result, len(recs))
	for i, r := range recs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, perr := b.one(ctx, r, present)
		out[i] = plugin.Result{ID: r.ID, Err: perr}
		if present && perr == nil {
			out[i].State, _ = json.Marshal(d) // cannot fail for strings
		}
	}
	return out, nil
}

// one checks that lego would write r, then has lego write or remove it.
func (b *bridge) one(ctx context.Context, r plugin.Record, present bool) (details, *plugin.Error) {
	d := details{Identifier: r.Identifier, Token: r.Token, KeyAuthorization: r.KeyAuthorization}
	if d.KeyAuthorization == "" && len(r.State) > 0 {
		if err := json.Unmarshal(r.State, &d); err != nil {
			return d, plugin.Errorf(plugin.CodeOther, false, "unreadable cleanup state: %v", err)
		}
	}
	if d.KeyAuthorization == "" || d.Identifier == "" {
		return d, plugin.Errorf(plugin.CodeOther, false,
			"no ACME challenge details for %s: lego derives the TXT value from the key authorization, which zonecert sends only for dns-01 challenges", r.FQDN)
	}
	// lego is handed the domain without "*.", as an ACME authorization names it.
	domain := strings.TrimPrefix(d.Identifier, "*.")
	if perr := b.check(ctx, domain, d.KeyAuthorization, r); perr != nil {
		return d, perr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	if present {
		err = b.lego.Present(ctx, domain, d.Token, d.KeyAuthorization)
	} else {
		err = b.lego.CleanUp(ctx, domain, d.Token, d.KeyAuthorization)
	}
	if err != nil {
		if ctx.Err() != nil {
			return d, plugin.Errorf(plugin.CodeOther, true, "lego %s: %v (%v)", b.code, err, ctx.Err())
		}
		if cname := (acmedns.ErrCNAMERequired{}); errors.As(err, &cname) {
			// A name without an account: lego has just registered one and
			// asks for the CNAME to it, which retrying cannot create.
			return d, plugin.Errorf(plugin.CodeZoneNotFound, false, "lego %s: %v", b.code, err)
		}
		// lego's errors carry no class: retrying is the safe guess, as
		// both calls are idempotent.
		return d, plugin.Errorf(plugin.CodeOther, true, "lego %s: %v", b.code, err)
	}
	return d, nil
}

// check refuses a record lego would write elsewhere or with another value
// than zonecert asked for: a challenge alias, a CNAME lego follows
// differently, another label than _acme-challenge, another zone.
func (b *bridge) check(ctx context.Context, domain, keyAuth string, r plugin.Record) *plugin.Error {
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	if info.Value != r.Value {
		return plugin.Errorf(plugin.CodeConflict, false,
			"lego would publish value %q at %s, but zonecert asked for %q: refusing (the record is not a dns-01 challenge for this key authorization)", info.Value, r.FQDN, r.Value)
	}
	fqdn := strings.ToLower(dns01.UnFqdn(info.EffectiveFQDN)) + "."
	if fqdn != r.FQDN {
		return plugin.Errorf(plugin.CodeConflict, false,
			"lego would publish at %s, but zonecert resolved the record to %s (a challenge alias, a CNAME, or another label than _acme-challenge): refusing to write elsewhere", fqdn, r.FQDN)
	}
	zone, err := dns01.DefaultClient().FindZoneByFqdn(ctx, info.EffectiveFQDN)
	if err != nil {
		if ctx.Err() != nil {
			return plugin.Errorf(plugin.CodeOther, true, "finding the zone of %s: %v", fqdn, err)
		}
		return plugin.Errorf(plugin.CodeZoneNotFound, false, "lego finds no zone for %s: %v", fqdn, err)
	}
	if z := strings.ToLower(dns01.UnFqdn(zone)) + "."; z != r.Zone {
		return plugin.Errorf(plugin.CodeZoneNotFound, false,
			"lego would write %s in zone %s, but zonecert found zone %s: refusing", fqdn, z, r.Zone)
	}
	return nil
}
