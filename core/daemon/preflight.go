package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zonecert/zonecert/core/preflight"
)

// preflightState runs the checks before each order (one Checker for the
// daemon, so its per-zone cache spans orders and reloads) and exposes the
// last verdict per certificate.
type preflightState struct {
	checker  *preflight.Checker
	problems *prometheus.GaugeVec

	mu  sync.Mutex
	set map[string][]string // checks with a non-zero gauge, per certificate
}

func newPreflightState(reg prometheus.Registerer) *preflightState {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "zonecert_preflight_problems",
		Help: "Errors found by the last preflight of each certificate, by check (delegation, challenge-path, caa, dnssec); 0 or absent when it passed.",
	}, []string{"certificate", "check"})
	reg.MustRegister(g)
	return &preflightState{checker: preflight.New(preflight.Config{}), problems: g, set: map[string][]string{}}
}

// record sets the certificate's gauges from its order's error and logs
// the preflight's findings when they stopped the order. Any other outcome
// (success, a later failure) means the preflight passed.
func (p *preflightState) record(ctx context.Context, cert string, err error, log *slog.Logger) {
	var probs preflight.Problems
	found := errors.As(err, &probs)
	counts := map[string]int{}
	for _, f := range probs {
		counts[f.Check]++
		log.LogAttrs(ctx, slog.LevelError, "preflight stopped the order", slog.String("check", f.Check),
			slog.String("name", f.Name), slog.String("problem", f.Message), slog.String("fix", f.Fix))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, check := range p.set[cert] {
		if counts[check] == 0 {
			p.problems.DeleteLabelValues(cert, check)
		}
	}
	delete(p.set, cert)
	if !found {
		return
	}
	for check, n := range counts {
		p.problems.WithLabelValues(cert, check).Set(float64(n))
		p.set[cert] = append(p.set[cert], check)
	}
}
