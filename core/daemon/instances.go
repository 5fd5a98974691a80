package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/plugin"
)

// Plugin is a running provider plugin (host.Client).
type Plugin interface {
	plugin.Provider
	Metadata() plugin.Metadata
	Close() error
}

// Launch starts the plugin process of provider instance def (cmd wires
// host.Start). resolvers are the config's [dns] resolvers, which the host
// passes to a plugin that declares plugin.ResolversSetting. lookupEnv is
// all of the environment the plugin may see.
type Launch func(ctx context.Context, def config.Provider, dirs, resolvers []string, lookupEnv func(string) (string, bool), log *slog.Logger) (Plugin, error)

// instance is one named provider instance: its own plugin process, started
// on first use, so a daemon with nothing due runs no plugin at all. Orders
// hold a reference while they run; an instance a reload replaced or dropped
// is closed once the last order using it ends.
type instance struct {
	def       config.Provider
	dirs      []string
	resolvers []string
	env       func(string) (string, bool)
	log       *slog.Logger
	launch    Launch

	mu      sync.Mutex
	client  Plugin
	refs    int
	retired bool
	closed  bool

	fronts fronts // the coalescer every order shares (throughput.go)
}

func newInstance(def config.Provider, dirs, resolvers []string, lookupEnv func(string) (string, bool), launch Launch, log *slog.Logger) *instance {
	return &instance{def: def, dirs: dirs, resolvers: resolvers, env: InstanceEnv(def, lookupEnv), log: log, launch: launch}
}

// InstanceEnv is the environment a named instance's plugin may read: a
// named instance takes its settings from the config only, so the
// environment variables the plugin declares for its settings are hidden,
// and two instances of one plugin never share credentials by accident.
// `zonecert doctor --config --write-test` starts instances with it too.
func InstanceEnv(def config.Provider, lookupEnv func(string) (string, bool)) func(string) (string, bool) {
	hidden := map[string]bool{}
	for _, s := range def.Meta.Settings {
		for _, e := range s.Env {
			hidden[e] = true
		}
	}
	return func(k string) (string, bool) {
		if hidden[k] || lookupEnv == nil {
			return "", false
		}
		return lookupEnv(k)
	}
}

var errRetired = errors.New("provider instance was removed by a reload")

// acquire takes a reference; the caller must release it.
func (i *instance) acquire() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.retired || i.closed {
		return errRetired
	}
	i.refs++
	return nil
}

// provider starts the plugin if it is not running. A failed start is not
// kept: the next order tries again.
func (i *instance) provider(ctx context.Context) (Plugin, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return nil, errRetired
	}
	if i.client != nil {
		return i.client, nil
	}
	c, err := i.launch(ctx, i.def, i.dirs, i.resolvers, i.env, i.log)
	if err != nil {
		return nil, fmt.Errorf("starting provider instance %s (plugin %s): %w", i.def.Name, i.def.Plugin, err)
	}
	i.client = c
	return c, nil
}

func (i *instance) release() {
	i.mu.Lock()
	i.refs--
	done := i.retired && i.refs == 0
	i.mu.Unlock()
	if done {
		i.close()
	}
}

// retire closes the instance now if unused, else when the last order ends.
func (i *instance) retire() {
	i.mu.Lock()
	i.retired = true
	done := i.refs == 0
	i.mu.Unlock()
	if done {
		i.close()
	}
}

func (i *instance) close() {
	i.mu.Lock()
	c := i.client
	i.client, i.closed = nil, true
	i.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// lease is the set of instances one order holds.
type lease struct {
	insts []*instance
	// journalName names the order's provider in the cleanup journal
	// (core.Config.ProviderInstance): the plugin's fingerprint, as obtain
	// and renew write it, so only the same plugin with the same settings
	// ever removes the records; a zone router joins its instances' names.
	// The coalescer in front of each plugin would otherwise hide it, and
	// an order would adopt records of every provider.
	journalName string
}

func (l *lease) release() {
	for _, i := range l.insts {
		i.release()
	}
}

// providerFor builds the provider an order of cert uses: one instance
// directly, or a zone router over several. Plugins start here, on first use.
func providerFor(ctx context.Context, cert config.Certificate, insts map[string]*instance, m *metrics) (plugin.Provider, *lease, error) {
	l := &lease{}
	for _, name := range cert.Instances() {
		inst, ok := insts[name]
		if !ok {
			l.release()
			return nil, nil, fmt.Errorf("provider instance %q is not configured", name)
		}
		if err := inst.acquire(); err != nil {
			l.release()
			return nil, nil, err
		}
		l.insts = append(l.insts, inst)
	}
	routes := map[string]plugin.Provider{}
	var names []string
	for _, inst := range l.insts {
		c, err := inst.provider(ctx)
		if err != nil {
			l.release()
			return nil, nil, err
		}
		routes[inst.def.Name] = inst.front(c, m)
		name := "instance " + inst.def.Name
		if f, ok := c.(interface{ Fingerprint() string }); ok {
			name = f.Fingerprint()
		}
		names = append(names, name)
	}
	slices.Sort(names)
	l.journalName = strings.Join(slices.Compact(names), "+")
	if cert.Provider != "" {
		return routes[cert.Provider], l, nil
	}
	return &router{zones: cert.Zones, routes: routes}, l, nil
}
