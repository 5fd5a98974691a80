package fakecloudflare

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const token = "good"

type response struct {
	Success    bool            `json:"success"`
	Errors     []apiError      `json:"errors"`
	Messages   []apiError      `json:"messages"`
	Result     json.RawMessage `json:"result"`
	ResultInfo *resultInfo     `json:"result_info"`
}

func start(t *testing.T, perPage int) *Server {
	return Start(t, Config{MaxPerPage: perPage, Tokens: map[string]Scope{token: {ZoneRead: true, DNSEdit: true}}})
}

// call makes one API request and decodes the envelope.
func call(t *testing.T, s *Server, tok, method, path, body string) (int, http.Header, response) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var env response
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s %s: body %q is not an envelope: %v", method, path, raw, err)
	}
	if env.Errors == nil || env.Messages == nil {
		t.Fatalf("%s %s: errors and messages must be arrays: %s", method, path, raw)
	}
	return res.StatusCode, res.Header, env
}

func wantError(t *testing.T, status int, env response, wantStatus, wantCode int) {
	t.Helper()
	if status != wantStatus || env.Success || len(env.Errors) != 1 || env.Errors[0].Code != wantCode {
		t.Fatalf("got %d %+v, want %d with code %d", status, env, wantStatus, wantCode)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := start(t, 0)
	st, _, env := call(t, s, "", "GET", "zones", "")
	wantError(t, st, env, 401, codeAuth)
	st, _, env = call(t, s, "bad", "GET", "zones", "")
	wantError(t, st, env, 403, codeAuth)
}

func TestZonePagination(t *testing.T) {
	t.Parallel()
	s := start(t, 2)
	for _, n := range []string{"a.test", "b.test", "c.test", "d.test", "e.test"} {
		s.AddZone(n)
	}
	var names []string
	for page := 1; page <= 3; page++ {
		st, _, env := call(t, s, token, "GET", "zones?per_page=50&page="+string(rune('0'+page)), "")
		if st != 200 || !env.Success {
			t.Fatalf("page %d: %d %+v", page, st, env)
		}
		info := *env.ResultInfo
		if info.Page != page || info.PerPage != 2 || info.TotalCount != 5 || info.TotalPages != 3 {
			t.Fatalf("page %d: result_info %+v", page, info)
		}
		var zs []struct{ Name string }
		_ = json.Unmarshal(env.Result, &zs)
		if len(zs) != info.Count {
			t.Fatalf("page %d: %d zones, count %d", page, len(zs), info.Count)
		}
		for _, z := range zs {
			names = append(names, z.Name)
		}
	}
	if len(names) != 5 {
		t.Fatalf("zones over 3 pages: %v", names)
	}
	_, _, env := call(t, s, token, "GET", "zones?name=c.test", "")
	if string(env.Result) == "[]" || env.ResultInfo.TotalCount != 1 {
		t.Fatalf("name filter: %+v", env)
	}
}

func TestRecords(t *testing.T) {
	t.Parallel()
	s := start(t, 0)
	zid := s.AddZone("example.com")
	body := `{"type":"TXT","name":"_acme-challenge.example.com","content":"\"v1\"","ttl":60}`
	st, _, env := call(t, s, token, "POST", "zones/"+zid+"/dns_records", body)
	if st != 200 || !env.Success {
		t.Fatalf("create: %d %+v", st, env)
	}
	var created struct{ ID, Name, Content string }
	_ = json.Unmarshal(env.Result, &created)
	if len(created.ID) != 32 || created.Name != "_acme-challenge.example.com" || created.Content != `"v1"` {
		t.Fatalf("created %+v", created)
	}
	// The same value, unquoted, is identical.
	st, _, env = call(t, s, token, "POST", "zones/"+zid+"/dns_records",
		`{"type":"TXT","name":"_acme-challenge.example.com","content":"v1","ttl":1}`)
	wantError(t, st, env, 400, codeIdentical)
	st, _, env = call(t, s, token, "POST", "zones/"+zid+"/dns_records",
		`{"type":"TXT","name":"_acme-challenge.example.com","content":"v2","ttl":30}`)
	wantError(t, st, env, 400, codeBadTTL)
	st, _, env = call(t, s, token, "POST", "zones/0000/dns_records", body)
	wantError(t, st, env, 400, codeRoute)

	_, _, env = call(t, s, token, "GET", "zones/"+zid+"/dns_records?type=TXT&name.exact=_acme-challenge.example.com&content.exact=%22V1%22", "")
	if env.ResultInfo.TotalCount != 1 {
		t.Fatalf("filtered list: %+v", env)
	}
	_, _, env = call(t, s, token, "GET", "zones/"+zid+"/dns_records?name=other.example.com", "")
	if env.ResultInfo.TotalCount != 0 {
		t.Fatalf("list of another name: %+v", env)
	}
	st, _, env = call(t, s, token, "GET", "zones/"+zid+"/dns_records?name.contains=acme", "")
	wantError(t, st, env, 400, codeBadRequest)

	m := new(dns.Msg)
	m.SetQuestion("_acme-challenge.example.com.", dns.TypeTXT)
	in, err := dns.Exchange(m, s.DNSAddr)
	if err != nil || !in.Authoritative || len(in.Answer) != 1 ||
		!slices.Equal(in.Answer[0].(*dns.TXT).Txt, []string{"v1"}) {
		t.Fatalf("DNS answer %v, %v", in, err)
	}

	st, _, env = call(t, s, token, "DELETE", "zones/"+zid+"/dns_records/"+created.ID, "")
	if st != 200 || !env.Success {
		t.Fatalf("delete: %d %+v", st, env)
	}
	st, _, env = call(t, s, token, "DELETE", "zones/"+zid+"/dns_records/"+created.ID, "")
	wantError(t, st, env, 404, codeRecordMissing)
	in, err = dns.Exchange(m, s.DNSAddr)
	if err != nil || in.Rcode != dns.RcodeNameError || len(in.Ns) != 1 {
		t.Fatalf("DNS after delete: %v, %v", in, err)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	s := start(t, 0)
	s.RateLimit(2, 7)
	for range 2 {
		st, h, env := call(t, s, token, "GET", "zones", "")
		wantError(t, st, env, 429, codeRateLimited)
		if h.Get("Retry-After") != "7" {
			t.Fatalf("Retry-After %q", h.Get("Retry-After"))
		}
	}
	if st, _, _ := call(t, s, token, "GET", "zones", ""); st != 200 {
		t.Fatalf("after the limit: %d", st)
	}
	if n := s.Calls()["GET zones"]; n != 3 {
		t.Fatalf("counted %d calls, want 3", n)
	}
}

func TestTXTStrings(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`abc`, []string{"abc"}},
		{`"abc"`, []string{"abc"}},
		{`"a\"b" "c\\d"`, []string{`a"b`, `c\d`}},
		{long, []string{long[:255], long[255:]}},
	} {
		if got := txtStrings(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("txtStrings(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
