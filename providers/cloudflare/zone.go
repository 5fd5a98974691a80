package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/dns"
	"github.com/cloudflare/cloudflare-go/v7/zones"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// Cloudflare v4 API error codes this provider acts on.
const (
	codeAuth          = 10000 // Authentication error
	codeRateLimited   = 971   // Please wait and consider throttling your request speed
	codeRecordMissing = 81044 // Record does not exist.
	codeIdentical     = 81058 // An identical record already exists.
)

// zoneLookup holds the zone ids found for one call; nothing outlives the
// call, so a zone moved between accounts is found again next time.
type zoneLookup map[string]zoneAnswer

type zoneAnswer struct {
	id  string
	err *sdk.Error
}

func (z zoneLookup) get(zone string) (string, *sdk.Error) {
	a, ok := z[zone]
	if !ok { // not looked up: a caller bug, but answer clearly
		return "", errorf(sdk.CodeOther, false, "zone %s was not looked up", zone)
	}
	return a.id, a.err
}

// zoneIDs finds the id of every distinct zone of recs (for CleanUp, only of
// records that carry no state, since a state names its zone id).
func (p *provider) zoneIDs(ctx context.Context, recs []sdk.Record, onlyStateless bool) zoneLookup {
	out := zoneLookup{}
	for _, r := range recs {
		if _, done := out[r.Zone]; done || (onlyStateless && len(r.State) > 0) {
			continue
		}
		id, err := p.findZone(ctx, r.Zone)
		out[r.Zone] = zoneAnswer{id: id, err: err}
	}
	return out
}

// findZone lists zones by exact name (GET /zones?name=), following
// pagination, and returns the id of the active one.
func (p *provider) findZone(ctx context.Context, zone string) (string, *sdk.Error) {
	name := strings.TrimSuffix(zone, ".")
	if name == "" {
		return "", errorf(sdk.CodeZoneNotFound, false, "zone %q is not a domain", zone)
	}
	var found []string
	for page := 1; ; page++ {
		var q zones.ZoneListParams
		q.Name.Value, q.Name.Present = name, true
		q.Page.Value, q.Page.Present = float64(page), true
		q.PerPage.Value, q.PerPage.Present = 50, true
		res, err := p.zones.List(ctx, q)
		if err != nil {
			return "", classify("finding zone "+name, err)
		}
		for _, z := range res.Result {
			// The name filter is exact by default; check anyway, since a
			// proxy could ignore it.
			if strings.EqualFold(z.Name, name) {
				if z.Status == zones.ZoneStatusActive {
					found = append([]string{z.ID}, found...)
				} else {
					found = append(found, z.ID)
				}
			}
		}
		if lastPage(len(res.Result), res.ResultInfo.Page, res.ResultInfo.PerPage, res.ResultInfo.JSON.ExtraFields["total_pages"].Raw()) {
			break
		}
	}
	if len(found) == 0 {
		return "", errorf(sdk.CodeZoneNotFound, false,
			"zone %s not found in Cloudflare (does the token have Zone:Read on it?)", name)
	}
	return found[0], nil
}

// classify maps an API or transport error to a plugin error code.
func classify(what string, err error) *sdk.Error {
	var api *dns.Error // the same type as zones.Error
	if errors.As(err, &api) {
		msg := fmt.Sprintf("%s: %d %s%s", what, api.StatusCode, http.StatusText(api.StatusCode), apiMessages(api))
		switch {
		case api.StatusCode == http.StatusTooManyRequests || hasCode(err, codeRateLimited):
			e := errorf(sdk.CodeRateLimited, true, "%s", msg)
			if api.Response != nil {
				e.RetryAfter = sdk.ParseRetryAfter(api.Response.Header.Get("Retry-After"), time.Now())
			}
			return e
		case api.StatusCode == http.StatusUnauthorized || api.StatusCode == http.StatusForbidden || hasCode(err, codeAuth):
			return errorf(sdk.CodeAuth, false, "%s", msg)
		case api.StatusCode >= 500:
			return errorf(sdk.CodeOther, true, "%s", msg)
		}
		return errorf(sdk.CodeOther, false, "%s", msg)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return errorf(sdk.CodeOther, true, "%s: %v", what, err)
	}
	// Transport errors (refused connection, reset, timeout) are worth a retry.
	return errorf(sdk.CodeOther, true, "%s: %v", what, err)
}

// apiMessages renders the envelope's errors as " (code message; ...)".
func apiMessages(api *dns.Error) string {
	if len(api.Errors) == 0 {
		return ""
	}
	parts := make([]string, len(api.Errors))
	for i, e := range api.Errors {
		parts[i] = fmt.Sprintf("%d %s", e.Code, e.Message)
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// hasCode reports whether err is an API error carrying the given code.
func hasCode(err error, code int64) bool {
	var api *dns.Error
	if !errors.As(err, &api) {
		return false
	}
	for _, e := range api.Errors {
		if e.Code == code {
			return true
		}
	}
	return false
}

func errorf(code sdk.Code, retryable bool, format string, args ...any) *sdk.Error {
	return &sdk.Error{Code: code, Retryable: retryable, Message: fmt.Sprintf(format, args...)}
}
