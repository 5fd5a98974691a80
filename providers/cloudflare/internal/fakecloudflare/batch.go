package fakecloudflare

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// defaultMaxBatch is the documented number of records one batch may
// operate on in a Free plan zone (Pro, Business and Enterprise: 3500).
const defaultMaxBatch = 200

// failure is an API error answer: HTTP status and one envelope error.
type failure struct {
	status, code int
	msg          string
}

// postBody is a record to create, as sent to POST dns_records and in the
// posts of a batch.
type postBody struct {
	Type    string `json:"type"`
	Name    string `json:"name"`
	Content string `json:"content"`
	TTL     *int   `json:"ttl"`
	Proxied bool   `json:"proxied"`
}

// newRecord validates a record to create in zone z, given the zone's
// records as they stand, and returns it with a fresh id.
func newRecord(body postBody, z *zone, records []Record) (Record, *failure) {
	name := normName(body.Name)
	switch {
	case body.Type != "TXT":
		return Record{}, &failure{http.StatusBadRequest, codeBadRequest, "fake: only TXT records are supported"}
	case body.TTL == nil:
		return Record{}, &failure{http.StatusBadRequest, codeBadRequest, "ttl is required"}
	case *body.TTL != 1 && (*body.TTL < 60 || *body.TTL > 86400):
		return Record{}, &failure{http.StatusBadRequest, codeBadTTL,
			"Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic."}
	case body.Content == "":
		return Record{}, &failure{http.StatusBadRequest, codeBadRequest, "content is required"}
	case body.Proxied:
		return Record{}, &failure{http.StatusBadRequest, 9004, "This record type cannot be proxied."}
	}
	if name == "@" {
		name = z.Name
	} else if !strings.HasSuffix(name, "."+z.Name) && name != z.Name {
		name += "." + z.Name // a relative name, as the API accepts
	}
	for _, rec := range records {
		if rec.ZoneID == z.ID && rec.Type == body.Type && rec.Name == name &&
			equalTXT(rec.Content, body.Content) {
			return Record{}, &failure{http.StatusBadRequest, codeIdentical, "An identical record already exists."}
		}
	}
	return Record{ID: newID(), ZoneID: z.ID, Name: name, Type: body.Type, Content: body.Content, TTL: *body.TTL}, nil
}

// batchBody is the body of POST /zones/{id}/dns_records/batch.
type batchBody struct {
	Deletes []struct {
		ID string `json:"id"`
	} `json:"deletes"`
	Patches []json.RawMessage `json:"patches"`
	Puts    []json.RawMessage `json:"puts"`
	Posts   []postBody        `json:"posts"`
}

// batchLocked applies a batch as the API documents it: deletes, then
// patches, puts and posts, each list in the order given, in one
// transaction. If any operation fails nothing is applied and the answer is
// the first error met. The result lists the deleted and created records in
// request order.
func (s *Server) batchLocked(w http.ResponseWriter, r *http.Request, z *zone) {
	var body batchBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fail(w, http.StatusBadRequest, codeBadRequest, "Invalid request body: "+err.Error())
		return
	}
	if len(body.Patches)+len(body.Puts) > 0 {
		// Refused rather than ignored, so a client relying on them notices.
		fail(w, http.StatusBadRequest, codeBadRequest, "fake: patches and puts are not supported")
		return
	}
	limit := s.cfg.MaxBatch
	if limit <= 0 {
		limit = defaultMaxBatch
	}
	if n := len(body.Deletes) + len(body.Posts); n > limit {
		fail(w, http.StatusBadRequest, codeBadRequest,
			fmt.Sprintf("Batch of %d operations exceeds the zone's limit of %d records", n, limit))
		return
	}

	// Work on a copy: s.records changes only if every operation succeeds.
	work := slices.Clone(s.records)
	deleted := []map[string]any{}
	for _, d := range body.Deletes {
		if d.ID == "" {
			fail(w, http.StatusBadRequest, codeBadRequest, "deletes: id is required")
			return
		}
		i := slices.IndexFunc(work, func(rec Record) bool { return rec.ID == d.ID && rec.ZoneID == z.ID })
		if i < 0 {
			fail(w, http.StatusNotFound, codeRecordMissing, "Record does not exist.")
			return
		}
		deleted = append(deleted, recordJSON(work[i], z))
		work = slices.Delete(work, i, i+1)
	}
	posted := []map[string]any{}
	for _, p := range body.Posts {
		rec, f := newRecord(p, z, work)
		if f != nil {
			fail(w, f.status, f.code, f.msg)
			return
		}
		work = append(work, rec)
		posted = append(posted, recordJSON(rec, z))
	}
	s.records = work
	writeJSON(w, http.StatusOK, envelope{Success: true, Result: map[string]any{
		"deletes": deleted, "patches": []any{}, "puts": []any{}, "posts": posted,
	}})
}
