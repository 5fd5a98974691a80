package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// Settings are filled by the SDK from zonecert's configuration or these
// variables, the only ones the host passes the plugin.
type Settings struct {
	Endpoint string     `setting:"endpoint" env:"EXAMPLEDNS_ENDPOINT" default:"https://api.exampledns.invalid/v1" doc:"ExampleDNS API base URL"`
	Token    sdk.Secret `setting:"token,required,secret" env:"EXAMPLEDNS_TOKEN" doc:"API token with DNS edit permission"`
}

// api is ExampleDNS: POST and GET /zones/{zone}/records, DELETE
// /zones/{zone}/records/{id}. Names are relative ("@" at the apex), ids are
// integers, lists come in pages. The SDK's REST helper does the rest,
// waiting out a 429's RateLimit-Reset included.
type api struct{ sdk.JSONAPI }

type record struct {
	ID      int    `json:"id,omitempty"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Content string `json:"content"`
	TTL     uint32 `json:"ttl"`
}

// page is one page of a listing; Next is the next page's absolute URL, or
// empty on the last.
type page struct {
	Records []record `json:"records"`
	Next    string   `json:"next"`
}

// minTTL is the lowest TTL ExampleDNS accepts.
const minTTL = 30

func records(zone string) string {
	return "/zones/" + url.PathEscape(strings.TrimSuffix(zone, ".")) + "/records"
}

func (a *api) CreateTXT(ctx context.Context, r sdk.Record) (string, error) {
	var out record
	in := record{Name: sdk.RelativeName(r.FQDN, r.Zone), Type: "TXT", Content: r.Value, TTL: max(r.TTL, minTTL)}
	err := a.Do(ctx, http.MethodPost, records(r.Zone), in, &out)
	return strconv.Itoa(out.ID), err
}

func (a *api) DeleteTXT(ctx context.Context, r sdk.Record, id string) error {
	return a.Do(ctx, http.MethodDelete, records(r.Zone)+"/"+url.PathEscape(id), nil, nil)
}

// ListTXT lists the name's TXT records over every page. With it the SDK
// adopts a record already holding the value (ExampleDNS stores
// duplicates), creates beside the others at their TTL (it keeps one TTL
// per name), and cleans up by name and value when the State is lost.
func (a *api) ListTXT(ctx context.Context, r sdk.Record) (out []sdk.TXT, err error) {
	q := url.Values{"name": {sdk.RelativeName(r.FQDN, r.Zone)}, "type": {"TXT"}}
	err = sdk.EachPage(ctx, &a.JSONAPI, records(r.Zone)+"?"+q.Encode(), func(p page) string { return p.Next }, func(p page) error {
		for _, rec := range p.Records {
			out = append(out, sdk.TXT{ID: strconv.Itoa(rec.ID), Value: rec.Content, TTL: rec.TTL})
		}
		return nil
	})
	return out, err
}

// New checks the settings and the token, so a wrong one is reported against
// its setting when zonecert starts the plugin, not at the first challenge.
func New(ctx context.Context, s Settings) (sdk.Provider, error) {
	if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, sdk.InvalidSetting("endpoint", "want an http(s) URL, got %q", s.Endpoint)
	}
	a := &api{sdk.JSONAPI{Base: s.Endpoint, Header: http.Header{"Authorization": {"Bearer " + s.Token.Reveal()}}}}
	if err := a.CheckAuth(ctx, "/zones", "token"); err != nil {
		return nil, err // a 401/403 becomes a diagnostic on the "token" setting
	}
	return sdk.NewREST(a, sdk.RESTOptions{}), nil
}
