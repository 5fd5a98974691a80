package host

import (
	"context"
	"errors"
	"log/slog"
	"sync"
)

// Manager keeps one plugin process per provider instance (Config.Instance,
// else the provider name) for the whole run and reuses it for every
// challenge. A crashed plugin is restarted once (see
// Client). Close stops them all.
type Manager struct {
	log *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry
	closed  bool
}

type entry struct {
	ready chan struct{} // closed when c/err are set
	c     *Client
	err   error
}

// NewManager returns an empty Manager. logger is the default for configs
// without one; nil discards.
func NewManager(logger *slog.Logger) *Manager {
	return &Manager{log: logger, entries: map[string]*entry{}}
}

// Get returns the running plugin for cfg's instance, starting it on first
// use. Concurrent first calls share one start (and its error); a failed
// start is not cached, so a later Get tries again. Settings of later calls
// are ignored: one instance, one process.
func (m *Manager) Get(ctx context.Context, cfg Config) (*Client, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errors.New("plugin manager closed")
	}
	key := cfg.Instance
	if key == "" {
		key = cfg.Name
	}
	if e, ok := m.entries[key]; ok {
		m.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return e.c, e.err
	}
	e := &entry{ready: make(chan struct{})}
	m.entries[key] = e
	m.mu.Unlock()

	if cfg.Logger == nil {
		cfg.Logger = m.log
	}
	c, err := Start(ctx, cfg)
	m.mu.Lock()
	e.c, e.err = c, err
	if err != nil {
		delete(m.entries, key)
	} else if m.closed {
		// Close ran while we were starting: do not leak the process.
		c.Close()
		e.c, e.err = nil, errors.New("plugin manager closed")
		err = e.err
	}
	close(e.ready)
	m.mu.Unlock()
	return e.c, err
}

// Close stops every plugin process.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	var clients []*Client
	for _, e := range m.entries {
		select {
		case <-e.ready:
			if e.c != nil {
				clients = append(clients, e.c)
			}
		default: // still starting; Get closes it
		}
	}
	m.entries = map[string]*entry{}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
	return nil
}
