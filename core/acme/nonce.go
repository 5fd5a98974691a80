package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// noncePool keeps the freshest nonces harvested from Replay-Nonce headers
// (RFC 8555 §6.5). Each nonce is handed out once.
type noncePool struct {
	mu     sync.Mutex
	nonces []string
	max    int
}

// push adds a nonce, dropping the oldest when full. Values outside the
// base64url alphabet (§6.5.1) are ignored.
func (p *noncePool) push(n string) {
	if !validNonce(n) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.nonces) >= p.max {
		copy(p.nonces, p.nonces[1:])
		p.nonces = p.nonces[:len(p.nonces)-1]
	}
	p.nonces = append(p.nonces, n)
}

// pop returns the newest nonce, which is the least likely to have expired.
func (p *noncePool) pop() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.nonces) == 0 {
		return "", false
	}
	n := p.nonces[len(p.nonces)-1]
	p.nonces = p.nonces[:len(p.nonces)-1]
	return n, true
}

func validNonce(n string) bool {
	if n == "" || len(n) > 512 {
		return false
	}
	for i := 0; i < len(n); i++ {
		ch := n[i]
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return false
		}
	}
	return true
}

// nonce returns a pooled nonce or fetches one with HEAD newNonce (§7.2).
// Concurrent callers may race for the fetched nonce; the loser fetches again.
func (c *Client) nonce(ctx context.Context) (string, error) {
	if n, ok := c.nonces.pop(); ok {
		return n, nil
	}
	dir, err := c.Directory(ctx)
	if err != nil {
		return "", err
	}
	for range 5 {
		if _, err := c.get(ctx, http.MethodHead, dir.NewNonce, ""); err != nil {
			return "", fmt.Errorf("fetching nonce: %w", err)
		}
		if n, ok := c.nonces.pop(); ok {
			return n, nil
		}
	}
	return "", errors.New("acme: fetching nonce: newNonce returned no usable Replay-Nonce")
}
