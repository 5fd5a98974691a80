package fakecloudflare

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

type batchResult struct {
	Deletes []struct{ ID string }
	Posts   []struct{ ID, Name, Content string }
}

func post(name, content string) string {
	return fmt.Sprintf(`{"type":"TXT","name":%q,"content":%q,"ttl":60}`, name, content)
}

func batch(deletes []string, posts ...string) string {
	ds := make([]string, len(deletes))
	for i, id := range deletes {
		ds[i] = fmt.Sprintf(`{"id":%q}`, id)
	}
	return `{"deletes":[` + strings.Join(ds, ",") + `],"posts":[` + strings.Join(posts, ",") + `]}`
}

// contents lists the contents of the TXT records at name, sorted.
func contents(s *Server, name string) []string {
	var out []string
	for _, r := range s.Records(name, "TXT") {
		out = append(out, r.Content)
	}
	slices.Sort(out)
	return out
}

func TestBatchAppliesDeletesBeforePostsInOrder(t *testing.T) {
	t.Parallel()
	s := start(t, 0)
	zid := s.AddZone("example.com")
	name := "_acme-challenge.example.com"
	old := s.AddRecord(zid, name, "TXT", `"same"`)
	// The post is identical to the record deleted in the same batch: it
	// succeeds only because deletes run first.
	st, _, env := call(t, s, token, "POST", "zones/"+zid+"/dns_records/batch",
		batch([]string{old}, post(name, `"same"`), post("b."+name, `"v2"`), post(name, `"v3"`)))
	if st != 200 || !env.Success {
		t.Fatalf("batch: %d %+v", st, env)
	}
	var res batchResult
	if err := json.Unmarshal(env.Result, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Deletes) != 1 || res.Deletes[0].ID != old {
		t.Fatalf("deletes %+v, want %s", res.Deletes, old)
	}
	wantNames := []string{name, "b." + name, name}
	wantContents := []string{`"same"`, `"v2"`, `"v3"`}
	if len(res.Posts) != 3 {
		t.Fatalf("posts %+v, want 3", res.Posts)
	}
	for i, p := range res.Posts {
		if p.Name != wantNames[i] || p.Content != wantContents[i] || len(p.ID) != 32 || p.ID == old {
			t.Fatalf("post %d = %+v, want %s %s with a new id", i, p, wantNames[i], wantContents[i])
		}
	}
	if got := contents(s, name); !slices.Equal(got, []string{`"same"`, `"v3"`}) {
		t.Fatalf("records at %s: %q", name, got)
	}
	if n := s.Calls()["POST dns_records/batch"]; n != 1 {
		t.Fatalf("counted %d batch calls, want 1", n)
	}
}

// Every refused batch leaves the zone exactly as it was.
func TestBatchIsTransactional(t *testing.T) {
	t.Parallel()
	name := "_acme-challenge.example.com"
	tests := []struct {
		name     string
		body     func(keep string) string
		status   int
		code     int
		maxBatch int
	}{
		{"identical to an existing record", func(string) string {
			return batch(nil, post(name, `"new"`), post(name, `other`))
		}, 400, codeIdentical, 0},
		{"identical posts in one batch", func(keep string) string {
			return batch([]string{keep}, post(name, `"new"`), post(name, "new"))
		}, 400, codeIdentical, 0},
		{"missing id among deletes", func(keep string) string {
			return batch([]string{keep, "00000000000000000000000000000000"}, post(name, `"new"`))
		}, 404, codeRecordMissing, 0},
		{"same id deleted twice", func(keep string) string {
			return batch([]string{keep, keep})
		}, 404, codeRecordMissing, 0},
		{"bad TTL in the last post", func(string) string {
			return batch(nil, post(name, `"new"`), `{"type":"TXT","name":"x.example.com","content":"y","ttl":5}`)
		}, 400, codeBadTTL, 0},
		{"over the operation limit", func(keep string) string {
			return batch([]string{keep}, post(name, `"new"`), post("b."+name, `"new"`))
		}, 400, codeBadRequest, 2},
		{"patches not supported", func(keep string) string {
			return `{"patches":[{"id":"` + keep + `","content":"x"}],"posts":[` + post(name, `"new"`) + `]}`
		}, 400, codeBadRequest, 0},
		{"malformed body", func(string) string { return `{"posts":` }, 400, codeBadRequest, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, Config{MaxBatch: tt.maxBatch, Tokens: map[string]Scope{token: {ZoneRead: true, DNSEdit: true}}})
			zid := s.AddZone("example.com")
			keep := s.AddRecord(zid, name, "TXT", `"other"`)
			st, _, env := call(t, s, token, "POST", "zones/"+zid+"/dns_records/batch", tt.body(keep))
			wantError(t, st, env, tt.status, tt.code)
			if got := contents(s, name); !slices.Equal(got, []string{`"other"`}) {
				t.Fatalf("records after refused batch: %q, want only the original", got)
			}
			if got := s.Records("b."+name, "TXT"); len(got) != 0 {
				t.Fatalf("records at b.%s after refused batch: %+v", name, got)
			}
		})
	}
}

func TestBatchAuthAndRateLimit(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Tokens: map[string]Scope{token: {ZoneRead: true, DNSEdit: true}, "read": {ZoneRead: true}}})
	zid := s.AddZone("example.com")
	body := batch(nil, post("x.example.com", `"v"`))
	path := "zones/" + zid + "/dns_records/batch"
	st, _, env := call(t, s, "", "POST", path, body)
	wantError(t, st, env, 401, codeAuth)
	st, _, env = call(t, s, "read", "POST", path, body)
	wantError(t, st, env, 403, codeAuth)
	st, _, env = call(t, s, token, "POST", "zones/0000/dns_records/batch", body)
	wantError(t, st, env, 400, codeRoute)
	st, _, env = call(t, s, token, "GET", path, "")
	wantError(t, st, env, 405, codeNoRoute)
	s.RateLimit(1, 3)
	st, h, env := call(t, s, token, "POST", path, body)
	wantError(t, st, env, 429, codeRateLimited)
	if h.Get("Retry-After") != "3" {
		t.Fatalf("Retry-After %q", h.Get("Retry-After"))
	}
	if n := len(s.Records("x.example.com", "TXT")); n != 0 {
		t.Fatalf("%d records after refused batches, want 0", n)
	}
	if n := s.Calls()["POST dns_records/batch"]; n != 4 {
		t.Fatalf("counted %d batch posts, want 4", n)
	}
}
