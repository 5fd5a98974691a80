package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// mediaType is the protocol's only version.
const mediaType = "application/external.dns.webhook+json;version=1"

// endpoint is the protocol's record set: every target of one type at one name.
type endpoint struct {
	DNSName          string            `json:"dnsName"`
	Targets          []string          `json:"targets"`
	RecordType       string            `json:"recordType"`
	SetIdentifier    string            `json:"setIdentifier,omitempty"`
	RecordTTL        int64             `json:"recordTTL,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	ProviderSpecific []property        `json:"providerSpecific,omitempty"`
}

type property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// changes is the body of POST /records.
type changes struct {
	Create    []endpoint `json:"Create"`
	UpdateOld []endpoint `json:"UpdateOld"`
	UpdateNew []endpoint `json:"UpdateNew"`
	Delete    []endpoint `json:"Delete"`
}

// domainFilter is GET /'s answer; servers send "include" (newer) or
// "filters" (older).
type domainFilter struct {
	Include []string `json:"include"`
	Filters []string `json:"filters"`
	Exclude []string `json:"exclude"`
}

type provider struct {
	base     string
	ttl      int
	hc       *http.Client
	includes []string
	excludes []string
	// mu orders this process's read-modify-write of a record set; the
	// protocol has no conditional update.
	mu sync.Mutex
}

func newProvider(ctx context.Context, s Settings, hc *http.Client) (*provider, error) {
	p := &provider{base: strings.TrimSuffix(s.URL, "/"), ttl: s.TTL, hc: hc}
	var f domainFilter
	if err := p.do(ctx, http.MethodGet, "/", nil, &f); err != nil {
		return nil, sdk.InvalidSetting("url", "negotiating with the webhook server: %v", err)
	}
	p.includes = append(f.Include, f.Filters...)
	p.excludes = f.Exclude
	return p, nil
}

// do sends one request in the protocol's media type.
func (p *provider) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", mediaType)
	if in != nil {
		req.Header.Set("Content-Type", mediaType)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &sdk.HTTPError{Method: method, Path: path, Status: resp.StatusCode, Body: data, Header: resp.Header,
			RetryAfter: sdk.RetryAfterOf(resp.Header, time.Now())}
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// served reports whether the server's domain filter covers name.
func (p *provider) served(name string) bool {
	match := func(list []string) bool {
		for _, d := range list {
			d = strings.TrimSuffix(strings.ToLower(d), ".")
			if name == d || strings.HasSuffix(name, "."+d) {
				return true
			}
		}
		return false
	}
	return (len(p.includes) == 0 || match(p.includes)) && !match(p.excludes)
}

func (p *provider) Present(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	return p.each(ctx, recs, true)
}

func (p *provider) CleanUp(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	return p.each(ctx, recs, false)
}

func (p *provider) each(ctx context.Context, recs []sdk.Record, add bool) ([]sdk.Result, error) {
	out := make([]sdk.Result, len(recs))
	for i, r := range recs {
		out[i] = sdk.Result{ID: r.ID, Err: p.one(ctx, r, add)}
	}
	return out, nil
}

// one adds or removes r's value in the TXT record set at its name,
// keeping the set's other values and TTL.
func (p *provider) one(ctx context.Context, r sdk.Record, add bool) *sdk.Error {
	name := strings.TrimSuffix(strings.ToLower(r.FQDN), ".")
	if !sdk.InZone(r.FQDN, r.Zone) || !p.served(name) {
		return &sdk.Error{Code: sdk.CodeZoneNotFound, Message: fmt.Sprintf("%s is outside zone %s or the webhook server's domain filter", r.FQDN, r.Zone)}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Another writer may change the set between our read and our update
	// (the server then refuses the stale UpdateOld): read again.
	var e *sdk.Error
	for range 3 {
		if e = p.change(ctx, name, r, add); e == nil || e.Code != sdk.CodeConflict {
			return e
		}
	}
	return e
}

// change makes one read-modify-write attempt.
func (p *provider) change(ctx context.Context, name string, r sdk.Record, add bool) *sdk.Error {
	var all []endpoint
	if err := p.do(ctx, http.MethodGet, "/records", nil, &all); err != nil {
		return sdk.Classify(err)
	}
	var old *endpoint
	for i := range all {
		e := &all[i]
		if strings.EqualFold(strings.TrimSuffix(e.DNSName, "."), name) && e.RecordType == "TXT" && e.SetIdentifier == "" {
			old = e
			break
		}
	}
	var ch changes
	switch {
	case add && old == nil:
		ttl := int64(r.TTL)
		if p.ttl > 0 {
			ttl = int64(p.ttl)
		}
		ch.Create = []endpoint{{DNSName: name, Targets: []string{r.Value}, RecordType: "TXT", RecordTTL: ttl}}
	case add && slices.Contains(old.Targets, r.Value), !add && (old == nil || !slices.Contains(old.Targets, r.Value)):
		return nil // already so
	case add:
		n := *old
		n.Targets = append(slices.Clone(old.Targets), r.Value)
		ch.UpdateOld, ch.UpdateNew = []endpoint{*old}, []endpoint{n}
	case len(old.Targets) == 1:
		ch.Delete = []endpoint{*old}
	default:
		n := *old
		n.Targets = slices.DeleteFunc(slices.Clone(old.Targets), func(t string) bool { return t == r.Value })
		ch.UpdateOld, ch.UpdateNew = []endpoint{*old}, []endpoint{n}
	}
	return sdk.Classify(p.do(ctx, http.MethodPost, "/records", ch, nil))
}
