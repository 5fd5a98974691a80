package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/daemon"
	"github.com/zonecert/zonecert/core/preflight"
)

// doctorInstances runs the write tests of `doctor --config`: each through
// the provider instance that would write the record, started as `run`
// starts it (launchPlugin: the instance's pin, else the state directory's
// lock file), once per (instance, zone).
type doctorInstances struct {
	cfg     *config.Config
	launch  daemon.Launch
	dirs    []string
	env     func(string) (string, bool)
	log     *slog.Logger
	timeout time.Duration

	started map[string]daemon.Plugin
	failed  map[string]bool
	tested  map[[2]string]bool // (instance, zone)
}

func newDoctorInstances(e env, cfg *config.Config, cfgPath string, dirs []string) *doctorInstances {
	return &doctorInstances{cfg: cfg, launch: launchPlugin(cfg.State, cfgPath), dirs: dirs, env: e.lookupEnv,
		log: cliLogger(e, false), timeout: cfg.DNS.PropagationTimeout,
		started: map[string]daemon.Plugin{}, failed: map[string]bool{}, tested: map[[2]string]bool{}}
}

// instanceFor is the instance a record for domain, written to zone, goes
// to: the certificate's provider, or the instance of the longest zone of
// its map that the zone (else, past a CNAME, the domain) lies in, as the
// daemon's router decides.
func instanceFor(c config.Certificate, domain, zone string) (string, bool) {
	if c.Provider != "" {
		return c.Provider, true
	}
	z, ok := config.LongestZone(c.Zones, zone)
	if !ok {
		z, ok = config.LongestZone(c.Zones, strings.TrimPrefix(domain, "*."))
	}
	return c.Zones[z], ok
}

// writeTests runs the write test for every zone a certificate's challenge
// findings name that no earlier certificate tested on the same instance.
func (d *doctorInstances) writeTests(ctx context.Context, checker *preflight.Checker, c config.Certificate, fs []preflight.Finding) []preflight.Finding {
	var out []preflight.Finding
	for _, fd := range fs {
		if fd.Check != preflight.CheckChallenge || fd.Zone == "" {
			continue
		}
		inst, ok := instanceFor(c, fd.Name, fd.Zone)
		if !ok {
			out = append(out, preflight.Finding{Check: preflight.CheckProvider, Name: c.Name + ": " + fd.Name, Severity: preflight.Error,
				Message: "no provider instance of the certificate covers zone " + fd.Zone, Fix: "add the zone to the certificate's zones"})
			continue
		}
		key := [2]string{inst, strings.ToLower(fd.Zone)}
		if d.tested[key] {
			continue
		}
		d.tested[key] = true
		p, err := d.provider(ctx, inst)
		if err != nil {
			if !d.failed[inst] {
				d.failed[inst] = true
				out = append(out, preflight.Finding{Check: preflight.CheckProvider, Name: "providers." + inst, Severity: preflight.Error,
					Message: err.Error(), Fix: "check the instance's plugin, pin and settings (zonecert config check)"})
			}
			continue
		}
		w := checker.WriteTest(ctx, p, fd.Zone, d.timeout)
		w.Name = "providers." + inst + ": " + w.Name
		out = append(out, w)
	}
	return out
}

// provider starts instance name on first use.
func (d *doctorInstances) provider(ctx context.Context, name string) (daemon.Plugin, error) {
	if p, ok := d.started[name]; ok {
		return p, nil
	}
	if d.failed[name] {
		return nil, fmt.Errorf("provider instance %s did not start", name)
	}
	def, ok := d.cfg.Providers[name]
	if !ok {
		return nil, fmt.Errorf("no provider instance %s", name)
	}
	p, err := d.launch(ctx, def, d.dirs, d.cfg.DNS.Resolvers, daemon.InstanceEnv(def, d.env), d.log)
	if err != nil {
		return nil, fmt.Errorf("starting provider instance %s (plugin %s): %w", name, def.Plugin, err)
	}
	d.started[name] = p
	return p, nil
}

func (d *doctorInstances) close() {
	for _, p := range d.started {
		_ = p.Close()
	}
}
