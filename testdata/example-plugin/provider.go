package main

import (
	"context"
	"net/http"
	"net/url"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// Settings are filled by the SDK from zonecert's configuration or these
// variables, the only ones the host passes the plugin.
type Settings struct {
	Endpoint string     `setting:"endpoint" env:"EXAMPLEDNS_ENDPOINT" default:"https://api.exampledns.invalid/v1" doc:"ExampleDNS API base URL"`
	Token    sdk.Secret `setting:"token,required,secret" env:"EXAMPLEDNS_TOKEN" doc:"API token with DNS edit permission"`
}

// api is ExampleDNS: POST and GET /zones/{zone}/records, DELETE
// /zones/{zone}/records/{id}. The SDK's REST helper does the rest.
type api struct{ sdk.JSONAPI }

type apiRecord struct {
	ID      string `json:"id,omitempty"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Content string `json:"content"`
	TTL     uint32 `json:"ttl"`
}

func records(zone string) string { return "/zones/" + url.PathEscape(zone) + "/records" }

func (a *api) CreateTXT(ctx context.Context, r sdk.Record) (string, error) {
	var out apiRecord
	err := a.Do(ctx, http.MethodPost, records(r.Zone), apiRecord{Name: r.FQDN, Type: "TXT", Content: r.Value, TTL: max(r.TTL, 60)}, &out)
	return out.ID, err
}

func (a *api) DeleteTXT(ctx context.Context, r sdk.Record, id string) error {
	return a.Do(ctx, http.MethodDelete, records(r.Zone)+"/"+url.PathEscape(id), nil, nil)
}

// FindTXT lets the SDK clean up without State and adopt an existing record.
func (a *api) FindTXT(ctx context.Context, r sdk.Record) (ids []string, err error) {
	var out struct{ Records []apiRecord }
	err = a.Do(ctx, http.MethodGet, records(r.Zone)+"?"+url.Values{"name": {r.FQDN}, "type": {"TXT"}}.Encode(), nil, &out)
	for _, rec := range out.Records {
		if rec.Content == r.Value {
			ids = append(ids, rec.ID)
		}
	}
	return ids, err
}

// New checks the settings and the token, so a wrong one is reported against
// its setting when zonecert starts the plugin, not at the first challenge.
func New(ctx context.Context, s Settings) (sdk.Provider, error) {
	if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, sdk.InvalidSetting("endpoint", "want an http(s) URL, got %q", s.Endpoint)
	}
	a := &api{sdk.JSONAPI{Base: s.Endpoint, Header: http.Header{"Authorization": {"Bearer " + s.Token.Reveal()}}}}
	if err := a.CheckAuth(ctx, "/zones", "token"); err != nil {
		return nil, err
	}
	return sdk.NewREST(a, sdk.RESTOptions{}), nil
}
