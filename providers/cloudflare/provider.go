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

// parallel bounds the API requests a provider makes at once: enough to keep
// many zones or a batch's record-by-record fallback quick, far below the
// API's 200 requests/second per IP.
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
		option.WithMiddleware(make(limiter, parallel).middleware),
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

// Present creates one TXT record per value. The records of one zone go in
// batch requests of up to batchLimit records; a lone record is a plain
// POST. An identical record that already exists (code 81058) counts as
// presented, with that record's id.
func (p *provider) Present(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	zoneIDs := p.zoneIDs(ctx, recs, false)
	out := make([]sdk.Result, len(recs))
	byZone := newGroups()
	for i, r := range recs {
		if err := checkName(r); err != nil {
			out[i] = sdk.Result{ID: r.ID, Err: err}
			continue
		}
		zid, zerr := zoneIDs.get(r.Zone)
		if zerr != nil {
			out[i] = sdk.Result{ID: r.ID, Err: zerr}
			continue
		}
		byZone.add(zid, i)
	}
	var jobs []func()
	for _, zid := range byZone.keys {
		for _, idx := range chunks(byZone.m[zid], batchLimit) {
			if len(idx) == 1 {
				jobs = append(jobs, func() { out[idx[0]] = p.presentOne(ctx, zid, recs[idx[0]]) })
			} else {
				jobs = append(jobs, func() { p.presentBatch(ctx, zid, recs, idx, out) })
			}
		}
	}
	run(len(jobs), func(i int) { jobs[i]() })
	return out, nil
}

// presentOne creates one record with a plain POST.
func (p *provider) presentOne(ctx context.Context, zoneID string, r sdk.Record) sdk.Result {
	id, err := p.create(ctx, zoneID, r)
	if err != nil {
		return sdk.Result{ID: r.ID, Err: classify(fmt.Sprintf("creating TXT %s", r.FQDN), err)}
	}
	st, _ := json.Marshal(state{ZoneID: zoneID, RecordID: id})
	return sdk.Result{ID: r.ID, State: st}
}

// CleanUp deletes each record by the id Present returned, in one batch
// request per zone (of up to batchLimit ids) when there are several.
// Without a state (Present's answer was lost) it deletes the records at the
// name whose content is the value. A record already gone counts as removed.
func (p *provider) CleanUp(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	zoneIDs := p.zoneIDs(ctx, recs, true)
	out := make([]sdk.Result, len(recs))
	var jobs []func()
	byZone := newGroups()        // zone id → distinct record ids, in order
	holders := map[state][]int{} // who asked for each (zone, record id)
	for i, r := range recs {
		out[i] = sdk.Result{ID: r.ID}
		if err := checkName(r); err != nil {
			out[i].Err = err
			continue
		}
		if len(r.State) == 0 {
			jobs = append(jobs, func() { out[i] = p.cleanUpStateless(ctx, zoneIDs, r) })
			continue
		}
		var st state
		if err := json.Unmarshal(r.State, &st); err != nil || st.ZoneID == "" || st.RecordID == "" {
			out[i].Err = errorf(sdk.CodeOther, false, "cleanup state of %s is malformed", r.FQDN)
			continue
		}
		if _, seen := holders[st]; !seen {
			byZone.add(st.ZoneID, len(byZone.ids))
			byZone.ids = append(byZone.ids, st.RecordID)
		}
		holders[st] = append(holders[st], i)
	}
	for _, zid := range byZone.keys {
		for _, chunk := range chunks(byZone.m[zid], batchLimit) {
			ids := make([]string, len(chunk))
			for k, n := range chunk {
				ids[k] = byZone.ids[n]
			}
			jobs = append(jobs, func() {
				var errs []error
				if len(ids) == 1 {
					errs = []error{p.delete(ctx, zid, ids[0])}
				} else {
					errs = p.deleteBatch(ctx, zid, ids)
				}
				for k, err := range errs {
					if err == nil {
						continue
					}
					for _, i := range holders[state{ZoneID: zid, RecordID: ids[k]}] {
						out[i].Err = classify("deleting TXT "+recs[i].FQDN, err)
					}
				}
			})
		}
	}
	run(len(jobs), func(i int) { jobs[i]() })
	return out, nil
}

// cleanUpStateless finds the records at r's name with r's value and
// deletes them one by one.
func (p *provider) cleanUpStateless(ctx context.Context, zoneIDs zoneLookup, r sdk.Record) sdk.Result {
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
}

// txtParam is the API body of r's TXT record. The SDK's field helper F
// lives in the root package we do not link, so the param fields are set
// directly (Present marks them as sent).
func txtParam(r sdk.Record) dns.TXTRecordParam {
	ttl := min(max(int(r.TTL), minTTL), 86400)
	var body dns.TXTRecordParam
	body.Name.Value, body.Name.Present = trimDot(r.FQDN), true
	body.Type.Value, body.Type.Present = dns.TXTRecordTypeTXT, true
	body.Content.Value, body.Content.Present = quoteTXT(r.Value), true
	body.TTL.Value, body.TTL.Present = dns.TTL(ttl), true
	return body
}

// create posts one TXT record and returns its id.
func (p *provider) create(ctx context.Context, zoneID string, r sdk.Record) (string, error) {
	params := dns.RecordNewParams{Body: txtParam(r)}
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

// run calls fn(0) … fn(n-1) with bounded parallelism and returns when all
// have returned.
func run(n int, fn func(i int)) {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// groups collects indexes by key, keeping the keys in first-seen order.
type groups struct {
	keys []string
	m    map[string][]int
	ids  []string // CleanUp: the record id of each index
}

func newGroups() *groups { return &groups{m: map[string][]int{}} }

func (g *groups) add(key string, i int) {
	if _, ok := g.m[key]; !ok {
		g.keys = append(g.keys, key)
	}
	g.m[key] = append(g.m[key], i)
}

// chunks splits s into pieces of at most n.
func chunks(s []int, n int) [][]int {
	var out [][]int
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
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
