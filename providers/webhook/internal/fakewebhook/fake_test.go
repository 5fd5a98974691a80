package fakewebhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

func post(t *testing.T, s *Server, ctype string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/records", bytes.NewReader(b))
	req.Header.Set("Accept", MediaType)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestFakeRefusesWhatARealServerWould: wrong media type, a stale update,
// a colliding create and a name outside the filter are refused, and a
// refused change leaves nothing half-applied.
func TestFakeRefusesWhatARealServerWould(t *testing.T) {
	s := Start(t, "example.test.")
	s.Put(Endpoint{DNSName: "a.example.test", Targets: []string{"x"}, RecordType: "TXT", RecordTTL: 60})
	tests := []struct {
		name  string
		ctype string
		body  changes
		want  int
	}{
		{"json without version", "application/json", changes{}, http.StatusUnsupportedMediaType},
		{"stale update", MediaType, changes{
			UpdateOld: []Endpoint{{DNSName: "a.example.test", Targets: []string{"y"}, RecordType: "TXT"}},
			UpdateNew: []Endpoint{{DNSName: "a.example.test", Targets: []string{"y", "z"}, RecordType: "TXT"}}}, http.StatusConflict},
		{"colliding create", MediaType, changes{Create: []Endpoint{{DNSName: "a.example.test", Targets: []string{"z"}, RecordType: "TXT"}}}, http.StatusConflict},
		{"outside the filter", MediaType, changes{Create: []Endpoint{{DNSName: "a.other.test", Targets: []string{"z"}, RecordType: "TXT"}}}, http.StatusBadRequest},
		{"half bad", MediaType, changes{
			Create: []Endpoint{{DNSName: "b.example.test", Targets: []string{"new"}, RecordType: "TXT"}},
			Delete: []Endpoint{{DNSName: "a.example.test", Targets: []string{"wrong"}, RecordType: "TXT"}}}, http.StatusConflict},
		{"good update", MediaType, changes{
			UpdateOld: []Endpoint{{DNSName: "a.example.test", Targets: []string{"x"}, RecordType: "TXT"}},
			UpdateNew: []Endpoint{{DNSName: "a.example.test", Targets: []string{"x", "z"}, RecordType: "TXT", RecordTTL: 60}}}, http.StatusNoContent},
	}
	for _, tt := range tests {
		if got := post(t, s, tt.ctype, tt.body); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
	if v := s.values("b.example.test."); len(v) != 0 {
		t.Errorf("a refused change was half applied: %v", v)
	}
	if v := s.values("a.example.test."); len(v) != 2 {
		t.Errorf("after the good update: %v", v)
	}
}
