package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/cloudflare/cloudflare-go/v7/dns"
	"github.com/cloudflare/cloudflare-go/v7/option"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// batchLimit is the most records one batch request operates on: 200 is the
// documented limit of a Free plan zone, the lowest of all plans (Pro and
// above allow 3500), so it holds whatever plan the zone is on.
const batchLimit = 200

// presentBatch creates the records recs[idx] (all in zone zoneID) with
// POST /zones/{id}/dns_records/batch and writes their results into out.
// The API runs a batch in one transaction, so a batch refused because of
// one record (an identical record that already exists, a validation
// error) created nothing; it is then retried record by record, which gives
// each record its own result and takes over identical records.
func (p *provider) presentBatch(ctx context.Context, zoneID string, recs []sdk.Record, idx []int, out []sdk.Result) {
	posts := make([]dns.RecordBatchParamsPostUnion, len(idx))
	for k, i := range idx {
		posts[k] = txtParam(recs[i])
	}
	var params dns.RecordBatchParams
	params.ZoneID.Value, params.ZoneID.Present = zoneID, true
	params.Posts.Value, params.Posts.Present = posts, true
	var raw []byte
	_, err := p.records.Batch(ctx, params, option.WithResponseBodyInto(&raw))
	var answer batchAnswer
	if err == nil {
		if jerr := json.Unmarshal(raw, &answer); jerr != nil {
			err = fmt.Errorf("decoding batch answer: %w", jerr)
		}
	}
	if err != nil {
		if !refusedForOne(err) {
			e := classify("creating TXT records in a batch", err)
			for _, i := range idx {
				out[i] = sdk.Result{ID: recs[i].ID, Err: e}
			}
			return
		}
		p.log.LogAttrs(ctx, slog.LevelDebug, "batch refused, creating records one by one",
			slog.Int("records", len(idx)), slog.String("error", err.Error()))
		run(len(idx), func(k int) { out[idx[k]] = p.presentOne(ctx, zoneID, recs[idx[k]]) })
		return
	}
	want := make([]sdk.Record, len(idx))
	for k, i := range idx {
		want[k] = recs[i]
	}
	for k, id := range matchPosts(want, answer.Result.Posts) {
		r := want[k]
		if id == "" {
			out[idx[k]] = sdk.Result{ID: r.ID, Err: errorf(sdk.CodeOther, true,
				"creating TXT %s: the batch answer lists no such record", r.FQDN)}
			continue
		}
		p.log.LogAttrs(ctx, slog.LevelDebug, "created TXT record",
			slog.String("fqdn", r.FQDN), slog.String("record_id", id))
		st, _ := json.Marshal(state{ZoneID: zoneID, RecordID: id})
		out[idx[k]] = sdk.Result{ID: r.ID, State: st}
	}
}

// batchAnswer is the part of a batch answer the provider reads. It is
// decoded here, not by the SDK, whose decoder of the record-type union
// allocated about 6 MB per 50 records created (see the benchmark).
type batchAnswer struct {
	Result struct {
		Posts []posted `json:"posts"`
	} `json:"result"`
}

// posted is a record a batch created.
type posted struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Content string `json:"content"`
}

// matchPosts finds the id of each wanted record among the records a batch
// created. The API runs the posts in the order given, so the answer is
// matched by position, checked by name and content; should the check fail,
// the record is looked for by name and content among the rest.
func matchPosts(want []sdk.Record, posts []posted) []string {
	ids := make([]string, len(want))
	used := make([]bool, len(posts))
	same := func(r sdk.Record, j int) bool {
		p := posts[j]
		return !used[j] && p.ID != "" && strings.EqualFold(trimDot(p.Name), trimDot(r.FQDN)) &&
			unquoteTXT(p.Content) == r.Value
	}
	for k, r := range want {
		j := -1
		if k < len(posts) && same(r, k) {
			j = k
		} else {
			for c := range posts {
				if same(r, c) {
					j = c
					break
				}
			}
		}
		if j >= 0 {
			used[j] = true
			ids[k] = posts[j].ID
		}
	}
	return ids
}

// deleteBatch deletes records by id in one batch request and returns the
// error of each id. A batch that names an id already gone is refused as a
// whole (nothing deleted); then the ids are deleted one by one, where a
// missing record counts as deleted.
func (p *provider) deleteBatch(ctx context.Context, zoneID string, ids []string) []error {
	dels := make([]dns.RecordBatchParamsDelete, len(ids))
	for k, id := range ids {
		dels[k].ID.Value, dels[k].ID.Present = id, true
	}
	var params dns.RecordBatchParams
	params.ZoneID.Value, params.ZoneID.Present = zoneID, true
	params.Deletes.Value, params.Deletes.Present = dels, true
	errs := make([]error, len(ids))
	// The answer lists the deleted records, which are of no use; it is read
	// as bytes to spare the SDK's costly decoding.
	var raw []byte
	_, err := p.records.Batch(ctx, params, option.WithResponseBodyInto(&raw))
	switch {
	case err == nil:
	case refusedForOne(err):
		p.log.LogAttrs(ctx, slog.LevelDebug, "batch refused, deleting records one by one",
			slog.Int("records", len(ids)), slog.String("error", err.Error()))
		run(len(ids), func(k int) { errs[k] = p.delete(ctx, zoneID, ids[k]) })
	default:
		for k := range errs {
			errs[k] = err
		}
	}
	return errs
}

// refusedForOne reports whether the API refused a batch for a reason one of
// its records may cause (4xx: a missing or identical record, a validation
// error), so that retrying record by record gives each its own answer.
// Auth, rate-limit, server and transport errors would hit every record
// alike and are not retried that way.
func refusedForOne(err error) bool {
	var api *dns.Error
	if !errors.As(err, &api) || hasCode(err, codeAuth) || hasCode(err, codeRateLimited) {
		return false
	}
	switch api.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		return false
	}
	return api.StatusCode >= 400 && api.StatusCode < 500
}

// limiter bounds the requests in flight of one provider, including those
// of a batch's record-by-record fallback, which runs inside a bounded job.
type limiter chan struct{}

func (l limiter) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	select {
	case l <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	defer func() { <-l }()
	return next(req)
}
