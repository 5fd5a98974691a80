package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// Settings are what the plugin needs to know. The SDK fills them from
// zonecert's configuration or from the environment variables named here,
// and reports a missing or malformed one against its setting name. The host
// passes the plugin only these variables.
type Settings struct {
	Endpoint string        `setting:"endpoint" env:"EXAMPLEDNS_ENDPOINT" default:"https://api.exampledns.invalid/v1" doc:"ExampleDNS API base URL"`
	Token    sdk.Secret    `setting:"token,required,secret" env:"EXAMPLEDNS_TOKEN" doc:"API token with DNS edit permission"`
	Timeout  time.Duration `setting:"timeout" env:"EXAMPLEDNS_TIMEOUT" default:"30s" doc:"timeout of one API request"`
}

// minTTL is ExampleDNS's smallest accepted TTL.
const minTTL = 60

// Provider publishes TXT records through the ExampleDNS API:
//
//	GET    /zones                          list zones
//	GET    /zones/{zone}/records?name=&type=TXT
//	POST   /zones/{zone}/records           {"name","type","content","ttl"} → 201 {"id",...}; 409 if identical
//	DELETE /zones/{zone}/records/{id}      204; 404 record_not_found when gone
//
// Every request carries "Authorization: Bearer <token>". The cleanup State
// of a record is its ExampleDNS id, so CleanUp deletes exactly the record
// Present made, from any process.
type Provider struct {
	base  string
	token sdk.Secret
	http  *http.Client
	log   *slog.Logger
}

var (
	_ sdk.Provider   = (*Provider)(nil)
	_ sdk.ZoneLister = (*Provider)(nil)
)

// New checks the settings and the token, so a wrong one is reported against
// its setting when zonecert starts the plugin, not at the first challenge.
func New(ctx context.Context, s Settings, log *slog.Logger) (*Provider, error) {
	u, err := url.Parse(s.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, sdk.InvalidSetting("endpoint", "want an http(s) URL, got %q", s.Endpoint)
	}
	if s.Timeout <= 0 {
		return nil, sdk.InvalidSetting("timeout", "must be positive, got %s", s.Timeout)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{
		base:  strings.TrimSuffix(s.Endpoint, "/"),
		token: s.Token,
		http:  &http.Client{Timeout: s.Timeout},
		log:   log,
	}
	if _, err := p.ListZones(ctx); err != nil {
		if e := toSDK(err); e.Code == sdk.CodeAuth {
			return nil, sdk.InvalidSetting("token", "rejected by ExampleDNS: %s", e.Message)
		}
		return nil, fmt.Errorf("checking credentials: %w", err)
	}
	return p, nil
}

// Present creates one TXT record per value. An identical record that
// already exists (409) is adopted, so presenting twice leaves one copy.
func (p *Provider) Present(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]sdk.Result, len(recs))
	for i, r := range recs {
		id, err := p.create(ctx, r)
		out[i] = sdk.Result{ID: r.ID, State: []byte(id), Err: err}
	}
	return out, nil
}

// CleanUp deletes exactly the given values: by the id in State when there
// is one, otherwise by finding records with this name and content. A
// record already gone counts as removed.
func (p *Provider) CleanUp(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]sdk.Result, len(recs))
	for i, r := range recs {
		out[i] = sdk.Result{ID: r.ID, Err: p.remove(ctx, r)}
	}
	return out, nil
}

// ListZones implements sdk.ZoneLister.
func (p *Provider) ListZones(ctx context.Context) ([]string, error) {
	var body struct {
		Zones []struct {
			Name string `json:"name"`
		} `json:"zones"`
	}
	if err := p.do(ctx, http.MethodGet, "/zones", nil, &body); err != nil {
		return nil, err
	}
	zones := make([]string, len(body.Zones))
	for i, z := range body.Zones {
		zones[i] = z.Name
	}
	return zones, nil
}

type apiRecord struct {
	ID      string `json:"id,omitempty"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Content string `json:"content"`
	TTL     uint32 `json:"ttl"`
}

func (p *Provider) create(ctx context.Context, r sdk.Record) (string, *sdk.Error) {
	if !inZone(r.FQDN, r.Zone) {
		return "", &sdk.Error{Code: sdk.CodeZoneNotFound, Message: fmt.Sprintf("%s is not in zone %s", r.FQDN, r.Zone)}
	}
	in := apiRecord{Name: r.FQDN, Type: "TXT", Content: r.Value, TTL: max(r.TTL, minTTL)}
	var created apiRecord
	err := p.do(ctx, http.MethodPost, recordsPath(r.Zone), in, &created)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.status == http.StatusConflict:
		existing, lerr := p.find(ctx, r)
		if lerr != nil {
			return "", lerr
		}
		if len(existing) == 0 {
			return "", retryable(sdk.CodeConflict, "ExampleDNS reported an identical record but lists none")
		}
		p.log.DebugContext(ctx, "record already present", "fqdn", r.FQDN, "id", existing[0].ID)
		return existing[0].ID, nil
	case err != nil:
		return "", toSDK(err)
	}
	p.log.DebugContext(ctx, "record created", "fqdn", r.FQDN, "id", created.ID)
	return created.ID, nil
}

func (p *Provider) remove(ctx context.Context, r sdk.Record) *sdk.Error {
	if !inZone(r.FQDN, r.Zone) {
		return &sdk.Error{Code: sdk.CodeZoneNotFound, Message: fmt.Sprintf("%s is not in zone %s", r.FQDN, r.Zone)}
	}
	ids := []string{string(r.State)}
	if len(r.State) == 0 {
		// Present's result was lost (the host crashed mid-call): find the
		// record by name and value instead.
		found, err := p.find(ctx, r)
		if err != nil {
			return err
		}
		ids = ids[:0]
		for _, rec := range found {
			ids = append(ids, rec.ID)
		}
	}
	for _, id := range ids {
		err := p.do(ctx, http.MethodDelete, recordsPath(r.Zone)+"/"+url.PathEscape(id), nil, nil)
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == "record_not_found" {
			continue // already gone: CleanUp is idempotent
		}
		if err != nil {
			return toSDK(err)
		}
		p.log.DebugContext(ctx, "record deleted", "fqdn", r.FQDN, "id", id)
	}
	return nil
}

// find lists the TXT records at r's name holding r's value.
func (p *Provider) find(ctx context.Context, r sdk.Record) ([]apiRecord, *sdk.Error) {
	q := url.Values{"name": {r.FQDN}, "type": {"TXT"}}
	var body struct {
		Records []apiRecord `json:"records"`
	}
	if err := p.do(ctx, http.MethodGet, recordsPath(r.Zone)+"?"+q.Encode(), nil, &body); err != nil {
		return nil, toSDK(err)
	}
	var out []apiRecord
	for _, rec := range body.Records {
		if rec.Content == r.Value && strings.EqualFold(rec.Name, r.FQDN) {
			out = append(out, rec)
		}
	}
	return out, nil
}

func recordsPath(zone string) string { return "/zones/" + url.PathEscape(zone) + "/records" }

// inZone reports whether fqdn is zone or below it (both absolute).
func inZone(fqdn, zone string) bool {
	fqdn, zone = strings.ToLower(fqdn), strings.ToLower(zone)
	return zone != "" && (fqdn == zone || strings.HasSuffix(fqdn, "."+zone) || zone == ".")
}

// apiError is an ExampleDNS error answer: {"error":{"code","message"}}.
type apiError struct {
	status     int
	Code       string `json:"code"`
	Message    string `json:"message"`
	retryAfter string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("ExampleDNS: HTTP %d %s: %s", e.status, e.Code, e.Message)
}

// do sends one API request; a non-2xx answer becomes an *apiError.
func (p *Provider) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, body)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token.Reveal())
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := &apiError{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
		var wrapped struct {
			Error *apiError `json:"error"`
		}
		wrapped.Error = ae
		if json.Unmarshal(data, &wrapped) != nil || ae.Message == "" {
			ae.Message = strings.TrimSpace(string(data))
		}
		return ae
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
	}
	return nil
}

// toSDK classifies an error for the host: it decides from the code whether
// to retry, report bad credentials, or give up on the zone.
func toSDK(err error) *sdk.Error {
	var ae *apiError
	if !errors.As(err, &ae) {
		// Transport failures and deadlines: worth another try.
		return retryable(sdk.CodeOther, err.Error())
	}
	switch {
	case ae.status == http.StatusUnauthorized || ae.status == http.StatusForbidden:
		return &sdk.Error{Code: sdk.CodeAuth, Message: ae.Error()}
	case ae.status == http.StatusNotFound && ae.Code == "zone_not_found":
		return &sdk.Error{Code: sdk.CodeZoneNotFound, Message: ae.Error()}
	case ae.status == http.StatusTooManyRequests:
		msg := ae.Error()
		if ae.retryAfter != "" {
			msg += " (retry after " + ae.retryAfter + "s)"
		}
		return retryable(sdk.CodeRateLimited, msg)
	case ae.status == http.StatusConflict:
		return &sdk.Error{Code: sdk.CodeConflict, Message: ae.Error()}
	case ae.status >= 500:
		return retryable(sdk.CodeOther, ae.Error())
	}
	return &sdk.Error{Code: sdk.CodeOther, Message: ae.Error()}
}

func retryable(code sdk.Code, msg string) *sdk.Error {
	return &sdk.Error{Code: code, Retryable: true, Message: msg}
}
