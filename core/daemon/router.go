package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/plugin"
)

// route is one provider instance behind a router.
type route struct {
	name string
	p    plugin.Provider
}

// router is a plugin.Provider that sends each record to the instance of the
// longest configured zone its Zone lies in, so one order spans zones on
// different providers without the engine knowing.
type router struct {
	zones  map[string]string // zone (no trailing dot) → instance
	routes map[string]plugin.Provider
}

var (
	_ plugin.Provider           = (*router)(nil)
	_ plugin.Syncer             = (*router)(nil)
	_ plugin.CapabilityReporter = (*router)(nil)
)

// Capabilities combines the instances' declarations so the engine
// schedules for the most limited one: any limit of one is a limit of all
// (the engine plans one order, not one per instance).
func (r *router) Capabilities() plugin.Capabilities {
	var c plugin.Capabilities
	for _, p := range r.routes {
		pc := plugin.CapabilitiesOf(p)
		c.Sync = c.Sync || pc.Sync
		c.NoDelete = c.NoDelete || pc.NoDelete
		c.ProvisionedNames = c.ProvisionedNames || pc.ProvisionedNames
		if pc.MaxValuesPerName > 0 && (c.MaxValuesPerName == 0 || pc.MaxValuesPerName < c.MaxValuesPerName) {
			c.MaxValuesPerName = pc.MaxValuesPerName
		}
	}
	return c
}

// split groups recs by instance; records no zone covers come back as
// results with CodeZoneNotFound.
func (r *router) split(recs []plugin.Record) (map[string][]plugin.Record, []plugin.Result) {
	by := map[string][]plugin.Record{}
	var miss []plugin.Result
	for _, rec := range recs {
		z, ok := config.LongestZone(r.zones, rec.Zone)
		if !ok {
			// A CNAME may lead the challenge into a zone of its own: try the
			// owner name too.
			z, ok = config.LongestZone(r.zones, rec.FQDN)
		}
		if !ok {
			miss = append(miss, plugin.Result{ID: rec.ID, Err: plugin.Errorf(plugin.CodeZoneNotFound, false,
				"no provider instance is configured for zone %s (configured: %s)", rec.Zone, strings.Join(slices.Sorted(maps.Keys(r.zones)), ", "))})
			continue
		}
		inst := r.zones[z]
		by[inst] = append(by[inst], rec)
	}
	return by, miss
}

func (r *router) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	return r.fan(ctx, recs, plugin.Provider.Present)
}

func (r *router) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	return r.fan(ctx, recs, plugin.Provider.CleanUp)
}

// fan calls each instance with its records concurrently and merges the
// results. A whole-call failure of one instance becomes per-record errors,
// so the other instances' records still count.
func (r *router) fan(ctx context.Context, recs []plugin.Record,
	call func(plugin.Provider, context.Context, []plugin.Record) ([]plugin.Result, error)) ([]plugin.Result, error) {
	by, out := r.split(recs)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for inst, part := range by {
		p := r.routes[inst]
		wg.Go(func() {
			res, err := call(p, ctx, part)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				perr, ok := errors.AsType[*plugin.Error](err)
				if !ok {
					perr = plugin.Errorf(plugin.CodeOther, true, "%s: %v", inst, err)
				}
				for _, rec := range part {
					out = append(out, plugin.Result{ID: rec.ID, Err: perr})
				}
				return
			}
			out = append(out, res...)
		})
	}
	wg.Wait()
	return out, nil
}

// WaitForSync asks every instance with the capability about its records.
func (r *router) WaitForSync(ctx context.Context, recs []plugin.Record) error {
	by, _ := r.split(recs)
	errs := make(chan error, len(by))
	var wg sync.WaitGroup
	for inst, part := range by {
		s, ok := r.routes[inst].(plugin.Syncer)
		if !ok {
			continue
		}
		wg.Go(func() {
			if err := s.WaitForSync(ctx, part); err != nil {
				errs <- fmt.Errorf("%s: %w", inst, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// metered wraps one instance's provider with RPC latency and error metrics.
type metered struct {
	name string
	p    Plugin
	m    *metrics
}

var (
	_ plugin.Provider           = metered{}
	_ plugin.Syncer             = metered{}
	_ plugin.CapabilityReporter = metered{}
)

// Capabilities reports the plugin's own.
func (p metered) Capabilities() plugin.Capabilities { return plugin.CapabilitiesOf(p.p) }

// Metadata is the plugin's, named after the instance: progress events and
// logs then say which instance.
func (p metered) Metadata() plugin.Metadata {
	m := p.p.Metadata()
	m.Name = p.name
	return m
}

func (p metered) observe(method string, start time.Time, failed bool) {
	p.m.rpcDuration.WithLabelValues(p.name, method).Observe(time.Since(start).Seconds())
	if failed {
		p.m.rpcErrors.WithLabelValues(p.name, method).Inc()
	}
}

func anyFailed(res []plugin.Result, err error) bool {
	if err != nil {
		return true
	}
	for _, r := range res {
		if r.Err != nil {
			return true
		}
	}
	return false
}

func (p metered) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	start := time.Now()
	res, err := p.p.Present(ctx, recs)
	p.observe("present", start, anyFailed(res, err))
	return res, err
}

func (p metered) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	start := time.Now()
	res, err := p.p.CleanUp(ctx, recs)
	p.observe("cleanup", start, anyFailed(res, err))
	return res, err
}

func (p metered) WaitForSync(ctx context.Context, recs []plugin.Record) error {
	s, ok := p.p.(plugin.Syncer)
	if !ok || !plugin.CapabilitiesOf(p.p).Sync {
		return nil
	}
	start := time.Now()
	err := s.WaitForSync(ctx, recs)
	p.observe("wait_for_sync", start, err != nil)
	return err
}
