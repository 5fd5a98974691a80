package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// Settings are lego's, so an existing lego set-up works as it is.
type Settings struct {
	APIBase     string `setting:"api_base,required" env:"ACME_DNS_API_BASE" doc:"acme-dns server URL, e.g. https://auth.acme-dns.io"`
	StoragePath string `setting:"storage_path,required" env:"ACME_DNS_STORAGE_PATH" doc:"JSON file of acme-dns accounts by domain, lego's format (zonecert-dns-acmedns register writes it)"`
}

// provider publishes through acme-dns's one write call, POST /update, with
// the account that owns the name. acme-dns cannot delete and keeps the two
// newest values per name, which the plugin declares (main.go) so that the
// host schedules around it.
type provider struct {
	api     sdk.JSONAPI
	storage string
	log     *slog.Logger
}

var _ sdk.Provider = (*provider)(nil)

func newProvider(ctx context.Context, s Settings, log *slog.Logger) (*provider, error) {
	if err := checkBase(s.APIBase); err != nil {
		return nil, sdk.InvalidSetting("api_base", "%v", err)
	}
	if _, err := loadAccounts(s.StoragePath); err != nil {
		return nil, sdk.InvalidSetting("storage_path", "%v", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &provider{api: sdk.JSONAPI{Base: s.APIBase}, storage: s.StoragePath, log: log}
	if err := p.api.Do(ctx, http.MethodGet, "/health", nil, nil); err != nil {
		return nil, fmt.Errorf("acme-dns at %s: %w", s.APIBase, err)
	}
	return p, nil
}

func checkBase(base string) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("want an http(s) URL, got %q", base)
	}
	return nil
}

// Present updates the account whose fulldomain is the record's name: the
// host has already followed _acme-challenge.<domain>'s CNAME to it.
func (p *provider) Present(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	accounts, err := loadAccounts(p.storage)
	if err != nil {
		return nil, &sdk.Error{Code: sdk.CodeOther, Message: err.Error()}
	}
	out := make([]sdk.Result, len(recs))
	for i, r := range recs {
		out[i] = sdk.Result{ID: r.ID, Err: p.update(ctx, accounts, r)}
	}
	return out, nil
}

func (p *provider) update(ctx context.Context, accounts accountFile, r sdk.Record) *sdk.Error {
	if !sdk.InZone(r.FQDN, r.Zone) {
		return &sdk.Error{Code: sdk.CodeZoneNotFound, Message: fmt.Sprintf("%s is not in zone %s", r.FQDN, r.Zone)}
	}
	acct, ok := accounts.byFullDomain(r.FQDN)
	if !ok {
		return &sdk.Error{Code: sdk.CodeZoneNotFound, Message: fmt.Sprintf(
			"no acme-dns account for %s in %s (register one with: zonecert-dns-acmedns register -d DOMAIN)", r.FQDN, p.storage)}
	}
	api := p.api
	api.Header = http.Header{"X-Api-User": {acct.Username}, "X-Api-Key": {acct.Password}}
	body := map[string]string{"subdomain": acct.SubDomain, "txt": r.Value}
	if err := api.Do(ctx, http.MethodPost, "/update", body, nil); err != nil {
		return sdk.Classify(err)
	}
	p.log.DebugContext(ctx, "value updated", "fqdn", r.FQDN, "subdomain", acct.SubDomain)
	return nil
}

// CleanUp succeeds without a call: acme-dns has no delete. The values stay
// until two newer ones replace them; the plugin declares NoDelete, so the
// host says so rather than claim a removal.
func (p *provider) CleanUp(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]sdk.Result, len(recs))
	for i, r := range recs {
		out[i].ID = r.ID
		if !sdk.InZone(r.FQDN, r.Zone) {
			out[i].Err = &sdk.Error{Code: sdk.CodeZoneNotFound, Message: fmt.Sprintf("%s is not in zone %s", r.FQDN, r.Zone)}
		}
	}
	return out, nil
}

// canonical is a name as the host gives it: lower case, trailing dot.
func canonical(name string) string { return dns.CanonicalName(strings.TrimSpace(name)) }
