// Package libdnsadapter turns a github.com/libdns provider into a zonecert
// DNS provider plugin. A libdns provider that can append and delete records
// (libdns v1.1's RecordAppender and RecordDeleter) needs only a main:
//
//	func main() {
//		sdk.Serve(sdk.Plugin[Settings]{
//			Name: "mydns", Version: version, Description: "MyDNS through libdns",
//			New: libdnsadapter.New(func(ctx context.Context, s Settings) (libdnsadapter.Provider, error) {
//				return &mydns.Provider{APIToken: s.Token.Reveal()}, nil
//			}),
//		})
//	}
//
// The adapter makes one AppendRecords call per zone for a Present and one
// DeleteRecords call per zone for a CleanUp. Each record's cleanup State
// holds what the provider returned for it (its name, TTL, text and
// ProviderData, where a provider keeps its record id), so it can be read
// in the journal. Deletion itself goes by name, type and text, as libdns
// asks: ProviderData is not portable and must not decide correctness.
//
// With libdns's optional RecordGetter, presenting a value already there
// adds no second copy, and a value joins a TXT set already at its name at
// that set's TTL (a server keeps one TTL per name); with ZoneLister, the
// plugin lists its zones.
// Errors become codes by their HTTP status where the provider exposes one
// (an sdk.HTTPError, or a StatusCode method), else by the usual words
// ("unauthorized", "rate limit", ...), else they are retryable.
package libdnsadapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/libdns/libdns"

	"github.com/zonecert/zonecert/plugin/sdk"
)

// Provider is what the adapter needs of a libdns provider.
type Provider interface {
	libdns.RecordAppender
	libdns.RecordDeleter
}

// New returns a Plugin.New for sdk.Serve that builds the libdns provider
// from the decoded settings and wraps it.
func New[S any](build func(ctx context.Context, settings S) (Provider, error)) func(context.Context, S, *slog.Logger) (sdk.Provider, error) {
	return func(ctx context.Context, s S, _ *slog.Logger) (sdk.Provider, error) {
		p, err := build(ctx, s)
		if err != nil {
			return nil, err
		}
		return Wrap(p), nil
	}
}

// Wrap adapts p. If p also implements libdns.ZoneLister, so does the
// result (sdk.ZoneLister).
func Wrap(p Provider) sdk.Provider {
	a := &adapter{p: p}
	a.getter, _ = p.(libdns.RecordGetter)
	if zl, ok := p.(libdns.ZoneLister); ok {
		return zoneAdapter{a, zl}
	}
	return a
}

type adapter struct {
	p      Provider
	getter libdns.RecordGetter
}

type zoneAdapter struct {
	*adapter
	zl libdns.ZoneLister
}

// ListZones implements sdk.ZoneLister.
func (z zoneAdapter) ListZones(ctx context.Context) ([]string, error) {
	zones, err := z.zl.ListZones(ctx)
	if err != nil {
		return nil, classify(err)
	}
	out := make([]string, len(zones))
	for i, zn := range zones {
		out[i] = strings.ToLower(strings.TrimSuffix(zn.Name, ".") + ".")
	}
	return out, nil
}

// state is a record's cleanup State: what the provider returned for it.
type state struct {
	Name         string          `json:"name"`
	TTL          time.Duration   `json:"ttl"`
	Text         string          `json:"text"`
	ProviderData json.RawMessage `json:"provider_data,omitempty"`
}

func txt(r sdk.Record) libdns.TXT {
	return libdns.TXT{Name: libdns.RelativeName(r.FQDN, r.Zone), TTL: time.Duration(r.TTL) * time.Second, Text: r.Value}
}

// Present implements sdk.Provider: one AppendRecords call per zone.
func (a *adapter) Present(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	return a.byZone(ctx, recs, func(ctx context.Context, zone string, recs []sdk.Record, out []sdk.Result) {
		var existing []libdns.Record
		if a.getter != nil {
			got, err := a.getter.GetRecords(ctx, zone)
			if err != nil {
				fail(out, classify(err))
				return
			}
			existing = got
		}
		var add []libdns.Record
		var addIdx []int
		for i, r := range recs {
			want := txt(r)
			if rr, ok := find(existing, want); ok {
				out[i].State = encodeState(rr) // already there: no second copy
				continue
			}
			if ttl, ok := nameTTL(existing, want.Name); ok {
				want.TTL = ttl // a server keeps one TTL per name: leave the user's as it is
			}
			if slicesIndexTXT(add, want) >= 0 {
				addIdx = append(addIdx, i) // the same value twice in one call: one copy
				continue
			}
			add = append(add, want)
			addIdx = append(addIdx, i)
		}
		if len(add) == 0 {
			return
		}
		created, err := a.p.AppendRecords(ctx, zone, add)
		if err != nil {
			for _, i := range addIdx {
				out[i].Err = classify(err)
			}
			return
		}
		for _, i := range addIdx {
			if rr, ok := find(created, txt(recs[i])); ok {
				out[i].State = encodeState(rr)
			}
		}
	})
}

// CleanUp implements sdk.Provider: one DeleteRecords call per zone. A
// value already gone is not an error (libdns ignores absent records).
func (a *adapter) CleanUp(ctx context.Context, recs []sdk.Record) ([]sdk.Result, error) {
	return a.byZone(ctx, recs, func(ctx context.Context, zone string, recs []sdk.Record, out []sdk.Result) {
		del := make([]libdns.Record, 0, len(recs))
		for _, r := range recs {
			t := txt(r)
			t.TTL = 0 // any TTL: the value decides, as the contract says
			del = append(del, t)
		}
		if _, err := a.p.DeleteRecords(ctx, zone, del); err != nil {
			fail(out, classify(err))
		}
	})
}

// byZone checks each record's zone, groups the records by zone and runs fn
// for each zone concurrently; out holds one Result per record of the call.
func (a *adapter) byZone(ctx context.Context, recs []sdk.Record,
	fn func(ctx context.Context, zone string, recs []sdk.Record, out []sdk.Result)) ([]sdk.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]sdk.Result, len(recs))
	idx := map[string][]int{}
	var zones []string
	for i, r := range recs {
		out[i].ID = r.ID
		if !sdk.InZone(r.FQDN, r.Zone) {
			out[i].Err = &sdk.Error{Code: sdk.CodeZoneNotFound, Message: fmt.Sprintf("%s is not in zone %s", r.FQDN, r.Zone)}
			continue
		}
		if _, ok := idx[r.Zone]; !ok {
			zones = append(zones, r.Zone)
		}
		idx[r.Zone] = append(idx[r.Zone], i)
	}
	var wg sync.WaitGroup
	for _, zone := range zones {
		wg.Go(func() {
			zrecs := make([]sdk.Record, len(idx[zone]))
			zout := make([]sdk.Result, len(idx[zone]))
			for k, i := range idx[zone] {
				zrecs[k], zout[k] = recs[i], out[i]
			}
			fn(ctx, zone, zrecs, zout)
			for k, i := range idx[zone] {
				out[i] = zout[k]
			}
		})
	}
	wg.Wait()
	return out, nil
}

func fail(out []sdk.Result, e *sdk.Error) {
	for i := range out {
		out[i].Err = e
	}
}

// find returns the TXT record in rrs with want's name and text.
func find(rrs []libdns.Record, want libdns.TXT) (libdns.Record, bool) {
	for _, rec := range rrs {
		rr := rec.RR()
		if rr.Type == "TXT" && strings.EqualFold(rr.Name, want.Name) && txtText(rec) == want.Text {
			return rec, true
		}
	}
	return nil, false
}

// nameTTL is the TTL of the first TXT record in rrs named name.
func nameTTL(rrs []libdns.Record, name string) (time.Duration, bool) {
	for _, rec := range rrs {
		if rr := rec.RR(); rr.Type == "TXT" && strings.EqualFold(rr.Name, name) {
			return rr.TTL, true
		}
	}
	return 0, false
}

func slicesIndexTXT(rrs []libdns.Record, want libdns.TXT) int {
	for i, rec := range rrs {
		if t, ok := rec.(libdns.TXT); ok && t.Name == want.Name && t.Text == want.Text {
			return i
		}
	}
	return -1
}

// txtText is a TXT record's text, parsed where the provider returned the
// opaque RR form.
func txtText(rec libdns.Record) string {
	if t, ok := rec.(libdns.TXT); ok {
		return t.Text
	}
	if parsed, err := rec.RR().Parse(); err == nil {
		if t, ok := parsed.(libdns.TXT); ok {
			return t.Text
		}
	}
	return rec.RR().Data
}

func encodeState(rec libdns.Record) []byte {
	rr := rec.RR()
	st := state{Name: rr.Name, TTL: rr.TTL, Text: txtText(rec)}
	if t, ok := rec.(libdns.TXT); ok && t.ProviderData != nil {
		if b, err := json.Marshal(t.ProviderData); err == nil {
			st.ProviderData = b
		}
	}
	b, _ := json.Marshal(st) // plain strings and numbers: cannot fail
	return b
}

// statusInText finds an HTTP status where a message says it is one
// ("HTTP 429", "HTTP/1.1 403", "status code: 401", "code=429"); a bare
// number could be part of a record name.
var statusInText = regexp.MustCompile(`\b(?:http(?:/[0-9.]+)?|status(?: code)?|code)\s*[:=#(]?\s*(401|403|429)\b`)

// classify maps a libdns provider's error to a code.
func classify(err error) *sdk.Error {
	var he *sdk.HTTPError
	if errors.As(err, &he) {
		return sdk.Classify(err)
	}
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		return sdk.Classify(&sdk.HTTPError{Status: sc.StatusCode(), Body: []byte(err.Error())})
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return sdk.Classify(err)
	}
	msg := strings.ToLower(err.Error())
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(msg, w) {
				return true
			}
		}
		return false
	}
	status := 0
	var code string
	if m := statusInText.FindStringSubmatch(msg); m != nil {
		code = m[1]
	}
	switch {
	case has("unauthorized", "unauthorised", "forbidden", "invalid token", "invalid api key", "authentication", "permission denied") || code == "401" || code == "403":
		status = http.StatusUnauthorized
	case has("rate limit", "too many requests", "throttl") || code == "429":
		status = http.StatusTooManyRequests
	case has("zone not found", "no such zone", "unknown zone", "zone does not exist"):
		status = http.StatusNotFound
	}
	if status == 0 {
		return &sdk.Error{Code: sdk.CodeOther, Retryable: true, Message: err.Error()}
	}
	e := sdk.Classify(&sdk.HTTPError{Status: status})
	e.Message = err.Error()
	return e
}
