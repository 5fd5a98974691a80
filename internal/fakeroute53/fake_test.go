package fakeroute53_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/internal/fakeroute53"
)

func client(s *fakeroute53.Server, akid, secret string) *route53.Client {
	return route53.New(route53.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

func txtChange(action types.ChangeAction, name string, ttl int64, values ...string) types.Change {
	var rrs []types.ResourceRecord
	for _, v := range values {
		rrs = append(rrs, types.ResourceRecord{Value: aws.String(v)})
	}
	return types.Change{Action: action, ResourceRecordSet: &types.ResourceRecordSet{
		Name: aws.String(name), Type: types.RRTypeTxt, TTL: aws.Int64(ttl), ResourceRecords: rrs}}
}

func change(t *testing.T, c *route53.Client, zoneID string, changes ...types.Change) (*route53.ChangeResourceRecordSetsOutput, error) {
	t.Helper()
	return c.ChangeResourceRecordSets(t.Context(), &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID), ChangeBatch: &types.ChangeBatch{Changes: changes}})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func sorted(v []string) []string { v = slices.Clone(v); slices.Sort(v); return v }

// TestNaiveUpsertLosesValue proves the fake is faithful where it matters
// most: an UPSERT replaces the whole record set, so a provider that UPSERTs
// only its own value deletes the wildcard's value when it adds the apex's.
func TestNaiveUpsertLosesValue(t *testing.T) {
	t.Parallel()
	s := fakeroute53.New(t, fakeroute53.Options{})
	id := s.AddZone("example.test", false)
	c := client(s, fakeroute53.AccessKeyID, fakeroute53.SecretAccessKey)
	name := "_acme-challenge.example.test."
	if _, err := change(t, c, id, txtChange(types.ChangeActionUpsert, name, 10, `"wildcard"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := change(t, c, id, txtChange(types.ChangeActionUpsert, name, 10, `"apex"`)); err != nil {
		t.Fatal(err)
	}
	_, values, ok := s.RRSet(id, name, "TXT")
	if !ok || !slices.Equal(values, []string{`"apex"`}) {
		t.Fatalf("after two single-value UPSERTs the set is %v (ok=%v); want only the apex value", values, ok)
	}
}

func TestChangeSemantics(t *testing.T) {
	t.Parallel()
	s := fakeroute53.New(t, fakeroute53.Options{})
	id := s.AddZone("example.test", false)
	c := client(s, fakeroute53.AccessKeyID, fakeroute53.SecretAccessKey)
	name := "_acme-challenge.example.test."
	if err := s.PutRRSet(id, name, "TXT", 60, `"a"`, `"b"`); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc    string
		changes []types.Change
		code    string
		message string
	}{
		{"create existing", []types.Change{txtChange(types.ChangeActionCreate, name, 60, `"c"`)},
			"InvalidChangeBatch", "but it already exists"},
		{"delete with other values", []types.Change{txtChange(types.ChangeActionDelete, name, 60, `"a"`)},
			"InvalidChangeBatch", "do not match the current values"},
		{"delete with other ttl", []types.Change{txtChange(types.ChangeActionDelete, name, 300, `"a"`, `"b"`)},
			"InvalidChangeBatch", "do not match the current values"},
		{"delete absent", []types.Change{txtChange(types.ChangeActionDelete, "x."+name, 60, `"a"`)},
			"InvalidChangeBatch", "but it was not found"},
		{"outside zone", []types.Change{txtChange(types.ChangeActionUpsert, "example.org.", 60, `"a"`)},
			"InvalidChangeBatch", "is not permitted in zone"},
		{"duplicate value", []types.Change{txtChange(types.ChangeActionUpsert, name, 60, `"a"`, `"a"`)},
			"InvalidChangeBatch", "Duplicate Resource Record"},
		{"unquoted with space", []types.Change{txtChange(types.ChangeActionUpsert, name, 60, `a b`)},
			"InvalidChangeBatch", "InvalidCharacterString"},
		{"same set twice", []types.Change{txtChange(types.ChangeActionUpsert, "y."+name, 60, `"a"`),
			txtChange(types.ChangeActionDelete, "y."+name, 60, `"a"`)},
			"InvalidChangeBatch", "invalid set of changes"},
		// Atomic: the valid UPSERT must not happen when the DELETE fails.
		{"atomic", []types.Change{txtChange(types.ChangeActionUpsert, "z."+name, 60, `"z"`),
			txtChange(types.ChangeActionDelete, name, 60, `"b"`)},
			"InvalidChangeBatch", "do not match"},
		{"no ttl", []types.Change{{Action: types.ChangeActionUpsert, ResourceRecordSet: &types.ResourceRecordSet{
			Name: aws.String(name), Type: types.RRTypeTxt, ResourceRecords: []types.ResourceRecord{{Value: aws.String(`"a"`)}}}}},
			"InvalidInput", "Expected exactly one of"},
	}
	for _, tc := range cases {
		_, err := change(t, c, id, tc.changes...)
		if apiCode(err) != tc.code || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: got %v; want %s mentioning %q", tc.desc, err, tc.code, tc.message)
		}
		var icb *types.InvalidChangeBatch
		if tc.code == "InvalidChangeBatch" && (!errors.As(err, &icb) || len(icb.Messages) == 0) {
			t.Errorf("%s: %v does not carry Messages", tc.desc, err)
		}
	}
	if _, _, ok := s.RRSet(id, "z."+name, "TXT"); ok {
		t.Error("a failed batch applied its valid change")
	}
	if ttl, values, _ := s.RRSet(id, name, "TXT"); ttl != 60 || !slices.Equal(sorted(values), []string{`"a"`, `"b"`}) {
		t.Errorf("failed batches changed the set to ttl=%d %v", ttl, values)
	}
	// The exact DELETE (values in any order) succeeds.
	if _, err := change(t, c, id, txtChange(types.ChangeActionDelete, name, 60, `"b"`, `"a"`)); err != nil {
		t.Fatalf("exact DELETE: %v", err)
	}
	if _, _, ok := s.RRSet(id, name, "TXT"); ok {
		t.Error("set still there after DELETE")
	}
	// CREATE of an absent set works; a second CREATE fails.
	if _, err := change(t, c, id, txtChange(types.ChangeActionCreate, name, 5, `"n"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := change(t, c, id, txtChange(types.ChangeActionCreate, name, 5, `"n"`)); apiCode(err) != "InvalidChangeBatch" {
		t.Errorf("second CREATE: %v", err)
	}
	if _, err := change(t, c, "ZNOSUCHZONE", txtChange(types.ChangeActionUpsert, name, 5, `"n"`)); apiCode(err) != "NoSuchHostedZone" {
		t.Errorf("unknown zone: %v", err)
	}
}

func TestListHostedZonesByNameOrder(t *testing.T) {
	t.Parallel()
	s := fakeroute53.New(t, fakeroute53.Options{})
	for _, n := range []string{"www.example.com", "example.org", "example.com", "a.example.com", "example.com"} {
		s.AddZone(n, n == "a.example.com")
	}
	c := client(s, fakeroute53.AccessKeyID, fakeroute53.SecretAccessKey)
	var names []string
	in := &route53.ListHostedZonesByNameInput{MaxItems: aws.Int32(2)}
	for pages := 0; ; pages++ {
		out, err := c.ListHostedZonesByName(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.HostedZones) > 2 {
			t.Fatalf("page of %d zones with maxitems 2", len(out.HostedZones))
		}
		for _, z := range out.HostedZones {
			names = append(names, aws.ToString(z.Name))
			if !strings.HasPrefix(aws.ToString(z.Id), "/hostedzone/Z") {
				t.Errorf("zone id %q", aws.ToString(z.Id))
			}
		}
		if !out.IsTruncated {
			break
		}
		in.DNSName, in.HostedZoneId = out.NextDNSName, out.NextHostedZoneId
	}
	// Labels reversed: com.example, com.example, com.example.a, com.example.www, org.example.
	want := []string{"example.com.", "example.com.", "a.example.com.", "www.example.com.", "example.org."}
	if !slices.Equal(names, want) {
		t.Fatalf("order %v; want %v", names, want)
	}
	out, err := c.ListHostedZonesByName(t.Context(), &route53.ListHostedZonesByNameInput{DNSName: aws.String("b.example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.HostedZones[0].Name); got != "www.example.com." {
		t.Errorf("first zone at or after b.example.com is %s; want www.example.com.", got)
	}
}

func TestListResourceRecordSets(t *testing.T) {
	t.Parallel()
	s := fakeroute53.New(t, fakeroute53.Options{})
	id := s.AddZone("example.test", false)
	for _, n := range []string{"b", "a", "*.a", "c.b"} {
		if err := s.PutRRSet(id, n+".example.test", "TXT", 1, `"`+n+`"`); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.PutRRSet(id, "a.example.test", "A", 1, "192.0.2.1", "192.0.2.2")
	c := client(s, fakeroute53.AccessKeyID, fakeroute53.SecretAccessKey)
	out, err := c.ListResourceRecordSets(t.Context(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rs := range out.ResourceRecordSets {
		got = append(got, aws.ToString(rs.Name)+" "+string(rs.Type))
		if rs.Type == types.RRTypeA && len(rs.ResourceRecords) != 2 {
			t.Errorf("A set returned with %d ResourceRecord elements; want one per value", len(rs.ResourceRecords))
		}
	}
	want := []string{"example.test. NS", "example.test. SOA", "a.example.test. A", "a.example.test. TXT",
		`\052.a.example.test. TXT`, "b.example.test. TXT", "c.b.example.test. TXT"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %q; want %q", got, want)
	}
	out, err = c.ListResourceRecordSets(t.Context(), &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(id),
		StartRecordName: aws.String("a.example.test"), StartRecordType: types.RRTypeTxt, MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ResourceRecordSets) != 1 || out.ResourceRecordSets[0].Type != types.RRTypeTxt || !out.IsTruncated ||
		aws.ToString(out.NextRecordName) != `\052.a.example.test.` {
		t.Fatalf("start at a/TXT: %+v truncated=%v next=%s", out.ResourceRecordSets, out.IsTruncated, aws.ToString(out.NextRecordName))
	}
}

func TestErrorBodies(t *testing.T) {
	t.Parallel()
	s := fakeroute53.New(t, fakeroute53.Options{})
	id := s.AddZone("example.test", false)
	good := client(s, fakeroute53.AccessKeyID, fakeroute53.SecretAccessKey)

	// Unsigned: a raw request with Route 53's error XML in reply.
	resp, err := http.Get(s.URL + "/2013-04-01/hostedzone/" + id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		XMLName xml.Name
		Type    string `xml:"Error>Type"`
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
		ReqID   string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	if resp.StatusCode != 403 || e.XMLName.Local != "ErrorResponse" || e.Type != "Sender" ||
		e.Code != "MissingAuthenticationToken" || e.ReqID == "" {
		t.Errorf("unsigned request: %d %s", resp.StatusCode, body)
	}

	checks := []struct {
		desc string
		c    *route53.Client
		prep func()
		code string
		http int
	}{
		{"unknown key", client(s, "AKIAUNKNOWN", "x"), nil, "InvalidClientTokenId", 403},
		{"wrong secret", client(s, fakeroute53.AccessKeyID, "wrong"), nil, "SignatureDoesNotMatch", 403},
		{"throttled", good, func() { s.Throttle(fakeroute53.OpGetHostedZone, 1) }, "Throttling", 400},
		{"denied", client(s, "AKIADENIED", "secret"), func() {
			s.AddKey("AKIADENIED", "secret")
			s.Deny("AKIADENIED", fakeroute53.OpGetHostedZone)
		}, "AccessDenied", 403},
	}
	for _, tc := range checks {
		if tc.prep != nil {
			tc.prep()
		}
		_, err := tc.c.GetHostedZone(t.Context(), &route53.GetHostedZoneInput{Id: aws.String(id)})
		var re interface{ HTTPStatusCode() int }
		if apiCode(err) != tc.code || !errors.As(err, &re) || re.HTTPStatusCode() != tc.http {
			t.Errorf("%s: %v; want %s (HTTP %d)", tc.desc, err, tc.code, tc.http)
		}
	}
	if _, err := good.GetHostedZone(t.Context(), &route53.GetHostedZoneInput{Id: aws.String("ZNOPE")}); apiCode(err) != "NoSuchHostedZone" {
		t.Errorf("unknown zone: %v", err)
	}
	if _, err := good.GetChange(t.Context(), &route53.GetChangeInput{Id: aws.String("CNOPE")}); apiCode(err) != "NoSuchChange" {
		t.Errorf("unknown change: %v", err)
	}
	if got := s.Throttled()[fakeroute53.OpGetHostedZone]; got != 1 {
		t.Errorf("throttled %d GetHostedZone calls; want 1", got)
	}
}

func query(t *testing.T, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	in, err := dns.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestSyncAndDNS checks PENDING→INSYNC and that the nameservers serve a
// change only once it is INSYNC.
func TestSyncAndDNS(t *testing.T) {
	t.Parallel()
	s := fakeroute53.New(t, fakeroute53.Options{SyncAfterPolls: 2})
	id := s.AddZone("example.test", false)
	c := client(s, fakeroute53.AccessKeyID, fakeroute53.SecretAccessKey)
	name := "_acme-challenge.example.test."
	out, err := change(t, c, id, txtChange(types.ChangeActionUpsert, name, 10, `"v1"`, `"long \"quoted\" value"`))
	if err != nil {
		t.Fatal(err)
	}
	if out.ChangeInfo.Status != types.ChangeStatusPending || !strings.HasPrefix(aws.ToString(out.ChangeInfo.Id), "/change/C") {
		t.Fatalf("change info %+v", out.ChangeInfo)
	}
	if in := query(t, s.DNSAddr(), name, dns.TypeTXT); in.Rcode != dns.RcodeNameError || !in.Authoritative {
		t.Fatalf("before sync: %v", in)
	}
	for i, want := range []types.ChangeStatus{types.ChangeStatusPending, types.ChangeStatusInsync} {
		got, err := c.GetChange(t.Context(), &route53.GetChangeInput{Id: out.ChangeInfo.Id})
		if err != nil {
			t.Fatal(err)
		}
		if got.ChangeInfo.Status != want {
			t.Fatalf("poll %d: %s; want %s", i+1, got.ChangeInfo.Status, want)
		}
	}
	in := query(t, s.DNSAddr(), name, dns.TypeTXT)
	var got []string
	for _, rr := range in.Answer {
		got = append(got, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	if !in.Authoritative || !slices.Equal(sorted(got), []string{`long \"quoted\" value`, "v1"}) {
		t.Fatalf("after sync: %v", in)
	}
	if in := query(t, s.DNSAddr(), "example.test.", dns.TypeTXT); in.Rcode != dns.RcodeSuccess || len(in.Answer) != 0 || len(in.Ns) != 1 {
		t.Errorf("NODATA at apex: %v", in)
	}
	if in := query(t, s.DNSAddr(), "example.org.", dns.TypeTXT); in.Rcode != dns.RcodeRefused {
		t.Errorf("foreign zone: %v", in)
	}
}

// signed builds a ChangeResourceRecordSets request signed with the SDK's
// SigV4 signer, so single parts can then be tampered with.
func signed(t *testing.T, s *fakeroute53.Server, zoneID, body, service string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		s.URL+"/2013-04-01/hostedzone/"+zoneID+"/rrset", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: fakeroute53.AccessKeyID, SecretAccessKey: fakeroute53.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	return req
}

// TestRejectsBadSignatures: the fake is not an accept-anything server.
// Every unsigned, garbled, stale, mis-scoped or tampered request gets 403
// with Route 53's XML error body, and changes nothing.
func TestRejectsBadSignatures(t *testing.T) {
	t.Parallel()
	s := fakeroute53.New(t, fakeroute53.Options{})
	id := s.AddZone("example.test", false)
	const body = `<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>x.example.test.</Name><Type>TXT</Type><TTL>10</TTL><ResourceRecords><ResourceRecord><Value>"v"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`
	now := time.Now()
	cases := []struct {
		desc string
		req  func() *http.Request
		code string
	}{
		{"unsigned", func() *http.Request {
			r := signed(t, s, id, body, "route53", now)
			r.Header.Del("Authorization")
			return r
		}, "MissingAuthenticationToken"},
		{"other scheme", func() *http.Request {
			r := signed(t, s, id, body, "route53", now)
			r.Header.Set("Authorization", "Bearer abc")
			return r
		}, "IncompleteSignature"},
		{"no signature", func() *http.Request {
			r := signed(t, s, id, body, "route53", now)
			auth, _, _ := strings.Cut(r.Header.Get("Authorization"), ", Signature=")
			r.Header.Set("Authorization", auth)
			return r
		}, "IncompleteSignature"},
		{"other service", func() *http.Request { return signed(t, s, id, body, "s3", now) }, "SignatureDoesNotMatch"},
		{"stale", func() *http.Request { return signed(t, s, id, body, "route53", now.Add(-20*time.Minute)) }, "SignatureDoesNotMatch"},
		{"tampered body", func() *http.Request {
			r := signed(t, s, id, body, "route53", now)
			evil := strings.Replace(body, `"v"`, `"w"`, 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(evil)), int64(len(evil))
			r.Header.Del("X-Amz-Content-Sha256")
			return r
		}, "SignatureDoesNotMatch"},
		{"tampered body, hash header kept", func() *http.Request {
			r := signed(t, s, id, body, "route53", now)
			sum := sha256.Sum256([]byte(body))
			r.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
			evil := strings.Replace(body, `"v"`, `"w"`, 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(evil)), int64(len(evil))
			return r
		}, "SignatureDoesNotMatch"},
		{"other zone in path", func() *http.Request {
			r := signed(t, s, id, body, "route53", now)
			r.URL.Path = strings.Replace(r.URL.Path, id, "ZOTHER", 1)
			return r
		}, "SignatureDoesNotMatch"},
	}
	for _, tc := range cases {
		resp, err := http.DefaultClient.Do(tc.req())
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			XMLName xml.Name
			Type    string `xml:"Error>Type"`
			Code    string `xml:"Error>Code"`
		}
		if err := xml.Unmarshal(raw, &e); err != nil || resp.StatusCode != http.StatusForbidden ||
			e.XMLName.Local != "ErrorResponse" || e.Type != "Sender" || e.Code != tc.code {
			t.Errorf("%s: HTTP %d %s; want 403 %s", tc.desc, resp.StatusCode, raw, tc.code)
		}
	}
	if _, _, ok := s.RRSet(id, "x.example.test.", "TXT"); ok {
		t.Fatal("a rejected request changed the zone")
	}
	// The untampered request is accepted: the rejections above are the
	// signature's doing, not the request's.
	resp, err := http.DefaultClient.Do(signed(t, s, id, body, "route53", now))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, values, ok := s.RRSet(id, "x.example.test.", "TXT"); resp.StatusCode != 200 || !ok || values[0] != `"v"` {
		t.Fatalf("signed request: HTTP %d, set %v", resp.StatusCode, values)
	}
}

// TestRequestLimits: 1,000 ResourceRecord elements and 32,000 value
// characters per request, an UPSERT counting twice.
func TestRequestLimits(t *testing.T) {
	t.Parallel()
	s := fakeroute53.New(t, fakeroute53.Options{})
	id := s.AddZone("example.test", false)
	c := client(s, fakeroute53.AccessKeyID, fakeroute53.SecretAccessKey)
	many := func(action types.ChangeAction, sets, perSet, size int) []types.Change {
		var out []types.Change
		for i := range sets {
			var values []string
			for j := range perSet {
				v := fmt.Sprintf("%d-%d-", i, j)
				values = append(values, `"`+v+strings.Repeat("x", size-len(v)-2)+`"`)
			}
			out = append(out, txtChange(action, fmt.Sprintf("n%d.example.test.", i), 10, values...))
		}
		return out
	}
	cases := []struct {
		desc    string
		changes []types.Change
		ok      bool
	}{
		{"1000 records upserted", many(types.ChangeActionUpsert, 250, 2, 10), true},
		{"1004 records upserted", many(types.ChangeActionUpsert, 251, 2, 10), false},
		{"600 records created", many(types.ChangeActionCreate, 300, 2, 10), true},
		{"17000 characters created", many(types.ChangeActionCreate, 1, 100, 170), true},
		{"17000 characters upserted", many(types.ChangeActionUpsert, 1, 100, 170), false},
	}
	for _, tc := range cases {
		_, err := change(t, c, id, tc.changes...)
		if tc.ok && err != nil || !tc.ok && apiCode(err) != "InvalidChangeBatch" {
			t.Errorf("%s: %v; want ok=%v", tc.desc, err, tc.ok)
		}
		if err == nil { // start the next case from an empty zone
			for i := range tc.changes {
				_ = s.PutRRSet(id, fmt.Sprintf("n%d.example.test.", i), "TXT", 0)
			}
		}
	}
}

// TestPublishInOrder: Route 53 publishes a zone's changes in order, so a
// change nobody polled is INSYNC once a later one is.
func TestPublishInOrder(t *testing.T) {
	t.Parallel()
	s := fakeroute53.New(t, fakeroute53.Options{SyncAfterPolls: 1})
	id := s.AddZone("example.test", false)
	c := client(s, fakeroute53.AccessKeyID, fakeroute53.SecretAccessKey)
	first, err := change(t, c, id, txtChange(types.ChangeActionUpsert, "a.example.test.", 10, `"a"`))
	if err != nil {
		t.Fatal(err)
	}
	second, err := change(t, c, id, txtChange(types.ChangeActionUpsert, "b.example.test.", 10, `"b"`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Pending() != 2 {
		t.Fatalf("%d pending changes; want 2", s.Pending())
	}
	got, err := c.GetChange(t.Context(), &route53.GetChangeInput{Id: second.ChangeInfo.Id})
	if err != nil || got.ChangeInfo.Status != types.ChangeStatusInsync {
		t.Fatalf("second change: %v %v", got, err)
	}
	got, err = c.GetChange(t.Context(), &route53.GetChangeInput{Id: first.ChangeInfo.Id})
	if err != nil || got.ChangeInfo.Status != types.ChangeStatusInsync {
		t.Fatalf("first change after the second synced: %v %v", got, err)
	}
	if in := query(t, s.DNSAddr(), "a.example.test.", dns.TypeTXT); len(in.Answer) != 1 {
		t.Fatalf("first change not served: %v", in)
	}
}

// TestTXTOctalEscapes: Route 53 TXT data escapes bytes as octal \DDD; the
// nameserver serves the bytes they stand for.
func TestTXTOctalEscapes(t *testing.T) {
	t.Parallel()
	s := fakeroute53.New(t, fakeroute53.Options{})
	id := s.AddZone("example.test", false)
	if err := s.PutRRSet(id, "t.example.test.", "TXT", 10, `"a\040b\041"`); err != nil {
		t.Fatal(err)
	}
	in := query(t, s.DNSAddr(), "t.example.test.", dns.TypeTXT)
	if len(in.Answer) != 1 || in.Answer[0].(*dns.TXT).Txt[0] != "a b!" {
		t.Fatalf("served %v; want \"a b!\"", in.Answer)
	}
}

// TestTTLPerSet: as in Route 53, a record set has one TTL. An UPSERT sets it
// for every value, ListResourceRecordSets reports it, and the nameservers
// answer every value with it. This is what makes a provider that UPSERTs
// its value into another party's set change that party's TTL.
func TestTTLPerSet(t *testing.T) {
	t.Parallel()
	s := fakeroute53.New(t, fakeroute53.Options{})
	id := s.AddZone("example.test", false)
	c := client(s, fakeroute53.AccessKeyID, fakeroute53.SecretAccessKey)
	name := "_acme-challenge.example.test."
	if err := s.PutRRSet(id, name, "TXT", 60, `"theirs"`); err != nil {
		t.Fatal(err)
	}
	if _, err := change(t, c, id, txtChange(types.ChangeActionUpsert, name, 10, `"theirs"`, `"ours"`)); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListResourceRecordSets(t.Context(), &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(id), StartRecordName: aws.String(name), StartRecordType: types.RRTypeTxt, MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ResourceRecordSets) != 1 || aws.ToInt64(out.ResourceRecordSets[0].TTL) != 10 || len(out.ResourceRecordSets[0].ResourceRecords) != 2 {
		t.Fatalf("listed %+v; want one set of two values with TTL 10", out.ResourceRecordSets)
	}
	s.Pending() // publish
	in := query(t, s.DNSAddr(), name, dns.TypeTXT)
	if len(in.Answer) != 2 {
		t.Fatalf("answer %v; want two values", in.Answer)
	}
	for _, rr := range in.Answer {
		if rr.Header().Ttl != 10 {
			t.Errorf("%v: want TTL 10 for every value of the set", rr)
		}
	}
}
