package faultproxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
)

// unparsed is the name an order is counted under when its request is not a
// flattened JWS with identifiers: a test asserting names then fails.
const unparsed = "(unparsed newOrder)"

// Orders is how many orders the server created (newOrder answered 201
// Created) for each identifier (its value, e.g. a DNS name): an order for
// two names counts once under each. A request the server refused (say
// badNonce, then sent again by the client) is no order; OrderRequests
// counts those too.
func (p *Proxy) Orders() map[string]int { return p.copyCounts(p.orders) }

// OrderRequests is how many newOrder requests named each identifier,
// whatever the answer (faulted, refused, or an order created).
func (p *Proxy) OrderRequests() map[string]int { return p.copyCounts(p.orderReqs) }

func (p *Proxy) copyCounts(m map[string]int) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// orderNames carries a newOrder's identifiers from the request to the
// server's answer (ModifyResponse).
type orderNames struct{}

// readOrder reads the identifiers of a newOrder request (RFC 8555 7.4: a
// flattened JWS whose base64url payload holds "identifiers"), counts the
// request, puts the body back for the server and returns r carrying the
// names for countCreated.
func (p *Proxy) readOrder(r *http.Request) *http.Request {
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	names := identifiers(body)
	if err != nil || len(names) == 0 {
		names = []string{unparsed}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range names {
		p.orderReqs[n]++
	}
	return r.WithContext(context.WithValue(r.Context(), orderNames{}, names))
}

// countCreated counts the names of a newOrder the server answered with an
// order (201 Created), whatever the proxy then does with the answer.
func (p *Proxy) countCreated(resp *http.Response) error {
	names, _ := resp.Request.Context().Value(orderNames{}).([]string)
	if len(names) == 0 || resp.StatusCode != http.StatusCreated {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range names {
		p.orders[n]++
	}
	return nil
}

func identifiers(body []byte) []string {
	var jws struct {
		Payload string `json:"payload"`
	}
	if json.Unmarshal(body, &jws) != nil {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(jws.Payload, "="))
	if err != nil {
		return nil
	}
	var order struct {
		Identifiers []struct {
			Value string `json:"value"`
		} `json:"identifiers"`
	}
	if json.Unmarshal(payload, &order) != nil {
		return nil
	}
	var out []string
	for _, id := range order.Identifiers {
		out = append(out, id.Value)
	}
	return out
}

// Held is a request the proxy forwarded and whose answer it keeps from the
// client until Release: the client waits at a chosen step (e.g. while a
// test freezes it).
type Held struct {
	step    string
	reached chan struct{}
	release chan struct{}
	answer  []byte
}

// Hold arms a hold on the next request for step (a Steps key) that the
// server answers with success.
func (p *Proxy) Hold(step string) *Held {
	h := &Held{step: step, reached: make(chan struct{}), release: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holds = append(p.holds, h)
	return h
}

// Reached is closed once a request is held; Answer is then readable.
func (h *Held) Reached() <-chan struct{} { return h.reached }

// Answer is the server's answer body to the held request (after Reached).
func (h *Held) Answer() []byte { <-h.reached; return h.answer }

// Release lets the held answer go to the client (if it is still there).
// Calling it again does nothing; Close releases every hold.
func (h *Held) Release() {
	select {
	case <-h.release:
	default:
		close(h.release)
	}
}

// takeHold returns and disarms the hold armed for path, if any.
func (p *Proxy) takeHold(path string) *Held {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, h := range p.holds {
		if strings.HasPrefix(path, Steps[h.step]) {
			p.holds = append(p.holds[:i:i], p.holds[i+1:]...)
			if !slices.Contains(p.held, h) {
				p.held = append(p.held, h)
			}
			return h
		}
	}
	return nil
}

// hold forwards r, keeps a successful answer until h is released (or the
// client leaves), then passes it on. An error answer (e.g. badNonce, which
// the client sends again) passes at once and leaves h armed.
func (p *Proxy) hold(w http.ResponseWriter, r *http.Request, h *Held) {
	rec := httptest.NewRecorder()
	p.rp.ServeHTTP(rec, r)
	if rec.Code >= 300 {
		p.mu.Lock()
		p.holds = append([]*Held{h}, p.holds...)
		p.mu.Unlock()
	} else {
		h.answer = rec.Body.Bytes()
		close(h.reached)
		select {
		case <-h.release:
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
