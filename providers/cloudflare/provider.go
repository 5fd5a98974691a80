package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/dns"
	"github.com/cloudflare/cloudflare-go/v7/option"
	"github.com/cloudflare/cloudflare-go/v7/zones"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// Settings are the Cloudflare provider's settings.
type Settings struct {
	DNSToken  sdk.Secret    `setting:"dns_api_token,required,secret" env:"CF_DNS_API_TOKEN,CLOUDFLARE_DNS_API_TOKEN" doc:"API token with DNS:Edit (and Zone:Read unless zone_api_token is set) on the zones"`
	ZoneToken sdk.Secret    `setting:"zone_api_token,secret" env:"CF_ZONE_API_TOKEN,CLOUDFLARE_ZONE_API_TOKEN" doc:"separate API token with Zone:Read, used only to find zones"`
	BaseURL   string        `setting:"base_url" env:"CLOUDFLARE_BASE_URL" default:"https://api.cloudflare.com/client/v4/" doc:"API base URL (for proxies and tests)"`
	Timeout   time.Duration `setting:"http_timeout" env:"CF_HTTP_TIMEOUT,CLOUDFLARE_HTTP_TIMEOUT" default:"30s" doc:"timeout of one API request attempt"`
	Retries   int           `setting:"max_retries" env:"CF_MAX_RETRIES" default:"2" doc:"retries of a throttled or failed request (Retry-After is honoured)"`
}

// parallel bounds the API requests one call makes at once: enough to keep
// a 50-name order quick, far below the API's 200 requests/second per IP.
const parallel = 4

// minTTL is the lowest TTL a non-Enterprise zone accepts (1 means
// "automatic", which is 300 s: too long for a challenge).
const minTTL = 60

// provider publishes one TXT record per value through the DNS records API.
type provider struct {
	records *dns.RecordService
	zones   *zones.ZoneService
	log     *slog.Logger
}

var _ sdk.Provider = (*provider)(nil)

// state is the cleanup state of one record: enough to delete exactly it.
type state struct {
	ZoneID   string `json:"zone_id"`
	RecordID string `json:"record_id"`
}

// newProvider validates the settings and builds the two API services
// directly, without the root cloudflare package (which links every API).
func newProvider(s Settings, hc *http.Client, log *slog.Logger) (*provider, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if s.DNSToken == "" {
		return nil, sdk.InvalidSetting("dns_api_token", "required (CF_DNS_API_TOKEN)")
	}
	base := s.BaseURL
	if base == "" {
		base = "https://api.cloudflare.com/client/v4/"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, sdk.InvalidSetting("base_url", "%q is not an http(s) URL", base)
	}
	if s.Retries < 0 {
		return nil, sdk.InvalidSetting("max_retries", "%d is negative", s.Retries)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	common := []option.RequestOption{
		option.WithHTTPClient(hc),
		option.WithBaseURL(base),
		option.WithMaxRetries(s.Retries),
	}
	if s.Timeout > 0 {
		common = append(common, option.WithRequestTimeout(s.Timeout))
	}
	zoneToken := s.ZoneToken
	if zoneToken == "" {
		zoneToken = s.DNSToken
	}
	return &provider{
		records: dns.NewRecordService(slices.Concat(common, []option.RequestOption{option.WithAPIToken(s.DNSToken.Reveal())})...),
		zones:   zones.NewZoneService(slices.Concat(common, []option.RequestOption{option.WithAPIToken(zoneToken.Reveal())})...),
		log:     log,
	}, nil
}

// Present creates one TXT record per value. An identical record that
// already exists (code 81058) counts as presented, with that record's id.
func (p *provider) Present(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	zoneIDs := p.zoneIDs(ctx, recs, false)
	return forEach(recs, func(r sdk.Record) sdk.Result {
		if err := checkName(r); err != nil {
			return sdk.Result{ID: r.ID, Err: err}
		}
		zid, zerr := zoneIDs.get(r.Zone)
		if zerr != nil {
			return sdk.Result{ID: r.ID, Err: zerr}
		}
		id, err := p.create(ctx, zid, r)
		if err != nil {
			return sdk.Result{ID: r.ID, Err: classify(fmt.Sprintf("creating TXT %s", r.FQDN), err)}
		}
		st, _ := json.Marshal(state{ZoneID: zid, RecordID: id})
		return sdk.Result{ID: r.ID, State: st}
	}), nil
}

// CleanUp deletes each record by the id Present returned. Without a state
// (Present's answer was lost) it deletes the records at the name whose
// content is the value. A record already gone counts as removed.
func (p *provider) CleanUp(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	zoneIDs := p.zoneIDs(ctx, recs, true)
	return forEach(recs, func(r sdk.Record) sdk.Result {
		if err := checkName(r); err != nil {
			return sdk.Result{ID: r.ID, Err: err}
		}
		var st state
		if len(r.State) > 0 {
			if err := json.Unmarshal(r.State, &st); err != nil || st.ZoneID == "" || st.RecordID == "" {
				return sdk.Result{ID: r.ID, Err: errorf(sdk.CodeOther, false, "cleanup state of %s is malformed", r.FQDN)}
			}
			if err := p.delete(ctx, st.ZoneID, st.RecordID); err != nil {
				return sdk.Result{ID: r.ID, Err: classify("deleting TXT "+r.FQDN, err)}
			}
			return sdk.Result{ID: r.ID}
		}
		zid, zerr := zoneIDs.get(r.Zone)
		if zerr != nil {
			return sdk.Result{ID: r.ID, Err: zerr}
		}
		ids, err := p.find(ctx, zid, r.FQDN, r.Value)
		if err != nil {
			return sdk.Result{ID: r.ID, Err: classify("finding TXT "+r.FQDN, err)}
		}
		for _, id := range ids {
			if err := p.delete(ctx, zid, id); err != nil {
				return sdk.Result{ID: r.ID, Err: classify("deleting TXT "+r.FQDN, err)}
			}
		}
		return sdk.Result{ID: r.ID}
	}), nil
}

// create posts one TXT record and returns its id.
func (p *provider) create(ctx context.Context, zoneID string, r sdk.Record) (string, error) {
	ttl := max(int(r.TTL), minTTL)
	ttl = min(ttl, 86400)
	// The SDK's field helper F lives in the root package we do not link, so
	// the param fields are set directly (Present marks them as sent).
	var body dns.TXTRecordParam
	body.Name.Value, body.Name.Present = trimDot(r.FQDN), true
	body.Type.Value, body.Type.Present = dns.TXTRecordTypeTXT, true
	body.Content.Value, body.Content.Present = quoteTXT(r.Value), true
	body.TTL.Value, body.TTL.Present = dns.TTL(ttl), true
	params := dns.RecordNewParams{Body: body}
	params.ZoneID.Value, params.ZoneID.Present = zoneID, true
	res, err := p.records.New(ctx, params)
	if err == nil {
		p.log.LogAttrs(ctx, slog.LevelDebug, "created TXT record",
			slog.String("fqdn", r.FQDN), slog.String("record_id", res.ID))
		return res.ID, nil
	}
	if !hasCode(err, codeIdentical) {
		return "", err
	}
	ids, ferr := p.find(ctx, zoneID, r.FQDN, r.Value)
	if ferr != nil {
		return "", ferr
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("identical record reported but not listed: %w", err)
	}
	return ids[0], nil
}

// delete removes one record by id; a record already gone is success.
func (p *provider) delete(ctx context.Context, zoneID, recordID string) error {
	var params dns.RecordDeleteParams
	params.ZoneID.Value, params.ZoneID.Present = zoneID, true
	_, err := p.records.Delete(ctx, recordID, params)
	if err != nil && !hasCode(err, codeRecordMissing) {
		return err
	}
	return nil
}

// find lists the TXT records at fqdn whose content is value, quoted or not,
// following pagination.
func (p *provider) find(ctx context.Context, zoneID, fqdn, value string) ([]string, error) {
	var ids []string
	for page := 1; ; page++ {
		var params dns.RecordListParams
		params.ZoneID.Value, params.ZoneID.Present = zoneID, true
		params.Type.Value, params.Type.Present = dns.RecordListParamsTypeTXT, true
		params.Name.Present = true
		params.Name.Value.Exact.Value, params.Name.Value.Exact.Present = trimDot(fqdn), true
		params.Page.Value, params.Page.Present = float64(page), true
		params.PerPage.Value, params.PerPage.Present = 100, true
		res, err := p.records.List(ctx, params)
		if err != nil {
			return nil, err
		}
		for _, rec := range res.Result {
			if unquoteTXT(rec.Content) == value {
				ids = append(ids, rec.ID)
			}
		}
		if lastPage(len(res.Result), res.ResultInfo.Page, res.ResultInfo.PerPage, res.ResultInfo.JSON.ExtraFields["total_pages"].Raw()) {
			return ids, nil
		}
	}
}

// lastPage decides from result_info whether a page of n results is the
// last: by total_pages when present (the SDK does not decode it), else by a
// short page. The SDK's auto-pager is not used: it drops the context and
// always fetches one empty page more.
func lastPage(n int, page, perPage int64, totalPages string) bool {
	if total, err := strconv.ParseInt(totalPages, 10, 64); err == nil {
		return n == 0 || page >= total
	}
	return n == 0 || int64(n) < perPage
}

// forEach runs fn for every record with bounded parallelism and returns the
// results in record order.
func forEach(recs []sdk.Record, fn func(sdk.Record) sdk.Result) []sdk.Result {
	out := make([]sdk.Result, len(recs))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, r := range recs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = fn(r)
		}()
	}
	wg.Wait()
	return out
}

// checkName refuses a record whose name is not within its zone: the API
// would read such a name as relative and write it below the zone.
func checkName(r sdk.Record) *sdk.Error {
	fqdn, zone := strings.ToLower(r.FQDN), strings.ToLower(r.Zone)
	if zone == "" || zone == "." || (fqdn != zone && !strings.HasSuffix(fqdn, "."+zone)) {
		return errorf(sdk.CodeZoneNotFound, false, "%s is not within zone %q", r.FQDN, r.Zone)
	}
	if r.Value == "" {
		return errorf(sdk.CodeOther, false, "empty TXT value for %s", r.FQDN)
	}
	return nil
}

func trimDot(s string) string { return strings.TrimSuffix(s, ".") }

// quoteTXT renders a value as one RFC 1035 character-string (section
// 5.1: quotes and backslashes escaped by a backslash), the form the API
// documents for TXT content.
func quoteTXT(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// unquoteTXT reverses the content forms the API may hold: one or more
// quoted character-strings (joined), or bare text as typed in the dashboard.
func unquoteTXT(c string) string {
	if !strings.HasPrefix(c, `"`) {
		return c
	}
	var b strings.Builder
	in, esc := false, false
	for i := 0; i < len(c); i++ {
		ch := c[i]
		switch {
		case esc:
			b.WriteByte(ch)
			esc = false
		case in && ch == '\\':
			esc = true
		case ch == '"':
			in = !in
		case in:
			b.WriteByte(ch)
		}
	}
	return b.String()
}
