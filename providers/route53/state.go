package main

import "encoding/json"

// state is the cleanup state of one presented record. The host journals it,
// so CleanUp and WaitForSync work from a fresh process: the hosted zone id
// saves a zone lookup, the change id is what GetChange polls.
type state struct {
	ZoneID   string `json:"zone_id"`
	Name     string `json:"name"`
	Value    string `json:"value"`
	ChangeID string `json:"change_id,omitempty"` // empty when the value was already there
}

func encodeState(s state) []byte {
	b, _ := json.Marshal(s) // a struct of strings always marshals
	return b
}

// decodeState parses a state; ok is false for an empty or foreign one, in
// which case the caller looks the zone up again.
func decodeState(b []byte) (s state, ok bool) {
	if len(b) == 0 || json.Unmarshal(b, &s) != nil {
		return state{}, false
	}
	return s, true
}
