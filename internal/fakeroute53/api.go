package fakeroute53

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// apiError is one Route 53 error answer.
type apiError struct {
	status   int
	code     string
	message  string
	messages []string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errInvalidInput(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidInput", message: msg}
}

func errNoSuchHostedZone(id string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "NoSuchHostedZone",
		message: "No hosted zone found with ID: " + id}
}

// request is the parsed, authenticated request handed to an operation.
type request struct {
	op          string
	accessKeyID string
	body        []byte
	r           *http.Request
}

type opFunc func(*request) (any, *apiError)

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, op string, fn opFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, op, fn) })
	}
	route("GET /2013-04-01/hostedzonesbyname", OpListHostedZonesByName, s.listHostedZonesByName)
	route("GET /2013-04-01/hostedzone/{id}", OpGetHostedZone, s.getHostedZone)
	route("GET /2013-04-01/hostedzone/{id}/rrset", OpListResourceRecordSets, s.listResourceRecordSets)
	route("POST /2013-04-01/hostedzone/{id}/rrset", OpChangeResourceRecordSets, s.changeResourceRecordSets)
	route("GET /2013-04-01/change/{id}", OpGetChange, s.getChange)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, randomID(32), &apiError{status: http.StatusNotFound, code: "UnknownOperationException",
			message: "unknown operation " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// serve runs the checks every Route 53 request goes through (signature,
// rate limit, IAM) before the operation itself.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, op string, fn opFunc) {
	reqID := strings.ToLower(randomID(8) + "-" + randomID(4) + "-" + randomID(4) + "-" + randomID(4) + "-" + randomID(12))
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, reqID, &apiError{status: http.StatusBadRequest, code: "InvalidInput", message: "reading body"})
		return
	}
	s.mu.Lock()
	s.calls[op]++
	keys := make(map[string]string, len(s.keys))
	for k, v := range s.keys {
		keys[k] = v
	}
	s.mu.Unlock()

	akid, aerr := verifySigV4(r, body, keys, time.Now())
	if aerr == nil {
		aerr = s.admit(op, akid)
	}
	var out any
	if aerr == nil {
		out, aerr = fn(&request{op: op, accessKeyID: akid, body: body, r: r})
	}
	if aerr != nil {
		if aerr.code == "InvalidChangeBatch" && s.opts.BareBatchErrors {
			writeBareBatchError(w, reqID, aerr)
			return
		}
		writeError(w, reqID, aerr)
		return
	}
	buf := bytes.NewBufferString(xml.Header)
	if err := xml.NewEncoder(buf).Encode(out); err != nil {
		writeError(w, reqID, &apiError{status: http.StatusInternalServerError, code: "InternalFailure", message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	_, _ = w.Write(buf.Bytes())
}

// admit applies injected throttling and denied permissions.
func (s *Server) admit(op, akid string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range []string{op, ""} {
		if n := s.throttle[key]; n != 0 {
			if n > 0 {
				s.throttle[key] = n - 1
			}
			s.throttled[op]++
			return &apiError{status: http.StatusBadRequest, code: "Throttling", message: "Rate exceeded"}
		}
	}
	if s.deny[akid][op] {
		return &apiError{status: http.StatusForbidden, code: "AccessDenied",
			message: "User: arn:aws:iam::123456789012:user/zonecert-test is not authorized to perform: route53:" + op}
	}
	return nil
}

func writeError(w http.ResponseWriter, reqID string, e *apiError) {
	var body errorResponse
	body.Error.Type = "Sender"
	if e.status >= 500 {
		body.Error.Type = "Receiver"
	}
	body.Error.Code = e.code
	body.Error.Message = e.message
	body.Error.Messages = e.messages
	body.RequestID = reqID
	buf := bytes.NewBufferString(xml.Header)
	_ = xml.NewEncoder(buf).Encode(body)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(e.status)
	_, _ = w.Write(buf.Bytes())
}

// writeBareBatchError writes InvalidChangeBatch in the other shape Route 53
// uses for it: the error's own element as the root, with the problems in
// Messages (the AWS SDKs carry a custom decoder for it).
func writeBareBatchError(w http.ResponseWriter, reqID string, e *apiError) {
	body := bareBatchError{Messages: e.messages, RequestID: reqID}
	buf := bytes.NewBufferString(xml.Header)
	_ = xml.NewEncoder(buf).Encode(body)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(e.status)
	_, _ = w.Write(buf.Bytes())
}

func parseMaxItems(q string, def int) (int, *apiError) {
	if q == "" {
		return def, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 {
		return 0, errInvalidInput("1 validation error detected: Value '" + q + "' at 'maxItems' failed to satisfy constraint")
	}
	return min(n, def), nil
}

func (z *zone) wire() xmlHostedZone {
	var x xmlHostedZone
	x.ID = "/hostedzone/" + z.id
	x.Name = wireName(z.name)
	x.CallerReference = "zonecert-fake-" + z.id
	x.Config.PrivateZone = z.private
	x.ResourceRecordSetCount = int64(len(z.api))
	return x
}

// listHostedZonesByName: "sorts hosted zones by name with the labels
// reversed"; with dnsname, the list starts at the first zone whose name is
// greater than or equal to it, and hostedzoneid picks among equal names.
func (s *Server) listHostedZonesByName(req *request) (any, *apiError) {
	q := req.r.URL.Query()
	dnsName, zoneID := q.Get("dnsname"), q.Get("hostedzoneid")
	if zoneID != "" && dnsName == "" {
		return nil, errInvalidInput("hostedzoneid requires dnsname")
	}
	maxItems, aerr := parseMaxItems(q.Get("maxitems"), 100)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	zones := make([]*zone, 0, len(s.zones))
	for _, z := range s.zones {
		zones = append(zones, z)
	}
	cmp := func(name, id string, z *zone) int {
		if c := strings.Compare(reversed(name), reversed(z.name)); c != 0 {
			return c
		}
		return strings.Compare(id, z.id)
	}
	slices.SortFunc(zones, func(a, b *zone) int { return cmp(a.name, a.id, b) })
	start := 0
	if dnsName != "" {
		name := canonicalName(dnsName)
		start = len(zones)
		for i, z := range zones {
			if cmp(name, zoneID, z) <= 0 {
				start = i
				break
			}
		}
	}
	out := &listHostedZonesByNameResponse{DNSName: dnsName, HostedZoneID: zoneID, MaxItems: maxItems}
	out.HostedZones = []xmlHostedZone{}
	for i := start; i < len(zones); i++ {
		if len(out.HostedZones) == maxItems {
			out.IsTruncated = true
			out.NextDNSName, out.NextHostedZoneID = wireName(zones[i].name), zones[i].id
			break
		}
		out.HostedZones = append(out.HostedZones, zones[i].wire())
	}
	return out, nil
}

func (s *Server) getHostedZone(req *request) (any, *apiError) {
	id := req.r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[id]
	if !ok {
		return nil, errNoSuchHostedZone(id)
	}
	out := &getHostedZoneResponse{HostedZone: z.wire()}
	if z.private {
		out.VPCs = []xmlVPC{{VPCRegion: "us-east-1", VPCID: "vpc-0fake"}}
	} else if ns := z.api[rrKey{z.name, "NS"}]; ns != nil {
		out.DelegationSet = &xmlDelegationSet{NameServers: slices.Clone(ns.values)}
	}
	return out, nil
}

// listResourceRecordSets: "sorts results first by DNS name with the labels
// reversed … When multiple records have the same DNS name, … by the record
// type"; the list starts at the first set whose name (and type, if given)
// is greater than or equal to the ones asked for.
func (s *Server) listResourceRecordSets(req *request) (any, *apiError) {
	id := req.r.PathValue("id")
	q := req.r.URL.Query()
	startName, startType := q.Get("name"), strings.ToUpper(q.Get("type"))
	if startType != "" {
		if startName == "" {
			return nil, errInvalidInput("The input is not valid: type requires name")
		}
		if _, ok := dns.StringToType[startType]; !ok {
			return nil, errInvalidInput("Invalid type: " + startType)
		}
	}
	if q.Get("identifier") != "" {
		return nil, errInvalidInput("identifier is not supported by this fake")
	}
	maxItems, aerr := parseMaxItems(q.Get("maxitems"), 300)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z, ok := s.zones[id]
	if !ok {
		return nil, errNoSuchHostedZone(id)
	}
	keys := make([]rrKey, 0, len(z.api))
	for k := range z.api {
		keys = append(keys, k)
	}
	cmpKey := func(a, b rrKey) int {
		if c := strings.Compare(reversed(a.name), reversed(b.name)); c != 0 {
			return c
		}
		return strings.Compare(a.typ, b.typ)
	}
	slices.SortFunc(keys, cmpKey)
	start := 0
	if startName != "" {
		from := rrKey{canonicalName(startName), startType}
		start = len(keys)
		for i, k := range keys {
			if cmpKey(from, k) <= 0 {
				start = i
				break
			}
		}
	}
	out := &listResourceRecordSetsResponse{MaxItems: maxItems, RRSets: []xmlRRSet{}}
	for i := start; i < len(keys); i++ {
		k := keys[i]
		if len(out.RRSets) == maxItems {
			out.IsTruncated = true
			out.NextRecordName, out.NextRecordType = wireName(k.name), k.typ
			break
		}
		set := z.api[k]
		ttl := set.ttl
		out.RRSets = append(out.RRSets, xmlRRSet{Name: wireName(k.name), Type: k.typ, TTL: &ttl,
			Records: records(set.values)})
	}
	return out, nil
}

func (s *Server) getChange(req *request) (any, *apiError) {
	id := req.r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.changes[id]
	if !ok {
		return nil, &apiError{status: http.StatusNotFound, code: "NoSuchChange",
			message: "A change with the specified change ID does not exist."}
	}
	c.polls++
	s.publishLocked()
	return &getChangeResponse{ChangeInfo: c.info()}, nil
}

func (c *change) info() xmlChangeInfo {
	status := "PENDING"
	if c.insync {
		status = "INSYNC"
	}
	return xmlChangeInfo{ID: "/change/" + c.id, Status: status, Comment: c.comment,
		SubmittedAt: c.submitted.UTC().Format("2006-01-02T15:04:05.000Z")}
}
