// Package filedns is a small libdns provider for the adapter's example: it
// keeps each zone's records as files in a directory, one JSON file per
// record, so several processes can share a zone. It implements libdns
// v1.1's RecordGetter, RecordAppender, RecordDeleter and ZoneLister.
package filedns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libdns/libdns"
)

// Provider keeps zones under Dir: Dir/<zone>/<id>.json.
type Provider struct {
	Dir string
}

var (
	_ libdns.RecordGetter   = (*Provider)(nil)
	_ libdns.RecordAppender = (*Provider)(nil)
	_ libdns.RecordDeleter  = (*Provider)(nil)
	_ libdns.ZoneLister     = (*Provider)(nil)
)

type file struct {
	Name string        `json:"name"`
	TTL  time.Duration `json:"ttl"`
	Type string        `json:"type"`
	Data string        `json:"data"`
}

func (p *Provider) zoneDir(zone string) (string, error) {
	z := strings.ToLower(strings.TrimSuffix(zone, "."))
	dir := filepath.Join(p.Dir, z)
	if z == "" || strings.ContainsAny(z, "/\\") {
		return "", fmt.Errorf("bad zone %q", zone)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("zone not found: %s", zone)
	}
	return dir, nil
}

// GetRecords implements libdns.RecordGetter. Each record's ProviderData is
// its id.
func (p *Provider) GetRecords(ctx context.Context, zone string) ([]libdns.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := p.zoneDir(zone)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		var f file
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("record %s: %w", id, err)
		}
		if f.Type == "TXT" {
			out = append(out, libdns.TXT{Name: f.Name, TTL: f.TTL, Text: f.Data, ProviderData: id})
		} else {
			out = append(out, libdns.RR{Name: f.Name, TTL: f.TTL, Type: f.Type, Data: f.Data})
		}
	}
	return out, nil
}

// AppendRecords implements libdns.RecordAppender: one new file per record,
// written whole before it appears (temp file, rename).
func (p *Provider) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := p.zoneDir(zone)
	if err != nil {
		return nil, err
	}
	var out []libdns.Record
	for _, rec := range recs {
		rr := rec.RR()
		b, _ := json.Marshal(file{Name: rr.Name, TTL: rr.TTL, Type: rr.Type, Data: rr.Data})
		id := make([]byte, 8)
		_, _ = rand.Read(id)
		name := hex.EncodeToString(id)
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return out, err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name+".json")); err != nil {
			return out, err
		}
		out = append(out, libdns.TXT{Name: rr.Name, TTL: rr.TTL, Text: rr.Data, ProviderData: name})
	}
	return out, nil
}

// DeleteRecords implements libdns.RecordDeleter: records matching name,
// and type, TTL and data where given, are removed; absent ones are ignored.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	have, err := p.GetRecords(ctx, zone)
	if err != nil {
		return nil, err
	}
	dir, _ := p.zoneDir(zone)
	var out []libdns.Record
	for _, h := range have {
		hr := h.RR()
		for _, rec := range recs {
			want := rec.RR()
			if !strings.EqualFold(want.Name, hr.Name) || want.Type != "" && want.Type != hr.Type ||
				want.TTL != 0 && want.TTL != hr.TTL || want.Data != "" && want.Data != hr.Data {
				continue
			}
			id, _ := h.(libdns.TXT).ProviderData.(string)
			if id == "" {
				continue
			}
			if err := os.Remove(filepath.Join(dir, id+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return out, err
			}
			out = append(out, h)
			break
		}
	}
	return out, nil
}

// ListZones implements libdns.ZoneLister.
func (p *Provider) ListZones(ctx context.Context) ([]libdns.Zone, error) {
	entries, err := os.ReadDir(p.Dir)
	if err != nil {
		return nil, err
	}
	var out []libdns.Zone
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, libdns.Zone{Name: e.Name() + "."})
		}
	}
	return out, nil
}
