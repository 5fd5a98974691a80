package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/acme"
	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/plugin"
)

// share gives g the ACME client and the name server answers every order
// of the generation shares.
func (d *Daemon) share(g *generation) error {
	opts := core.ACMEOptions(core.Config{HTTPClient: g.http, Logger: d.log, Now: d.now,
		AllowInsecureHTTP: d.opts.AllowInsecureHTTP}, g.cfg.ACME.DirectoryURL)
	opts.NewOrderConcurrency = g.cfg.Daemon.NewOrderConcurrency
	opts.GateWaited = func(newOrder bool, waited time.Duration) {
		request := "authorization"
		if newOrder {
			request = "new-order"
		}
		d.m.gateWait.WithLabelValues(request).Add(waited.Seconds())
	}
	c, err := acme.New(opts)
	if err != nil {
		return err
	}
	g.acme = c
	g.dns = dns01.NewShared(0, d.now)
	return nil
}

// fronts holds one coalescer per running plugin of an instance: every
// order of the instance goes through it, so records of concurrent orders
// for one zone reach the plugin in one call, within the instance's limits.
type fronts struct {
	mu   sync.Mutex
	p    Plugin // the plugin the coalescer was built for
	coal *dns01.Coalescer
}

// front returns the coalescer in front of c, building it when c is new.
func (i *instance) front(c Plugin, m *metrics) plugin.Provider {
	i.fronts.mu.Lock()
	defer i.fronts.mu.Unlock()
	if i.fronts.p != c || i.fronts.coal == nil {
		name := i.def.Name
		i.fronts.p = c
		i.fronts.coal = i.def.Limits.Coalescer(
			restartWatch{metered{name: name, p: c, m: m}, c, m.tp.restarts.WithLabelValues(name)},
			m.tp.hooks(name))
	}
	return i.fronts.coal
}

// restartWatch keeps the restarts gauge of an instance current after each
// call (host.Client restarts a crashed plugin inside the next call).
type restartWatch struct {
	metered
	c     Plugin
	gauge prometheus.Gauge
}

func (r restartWatch) update() {
	if rc, ok := r.c.(interface{ Restarted() int }); ok {
		r.gauge.Set(float64(rc.Restarted()))
	}
}

func (r restartWatch) Present(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	defer r.update()
	return r.metered.Present(ctx, recs)
}

func (r restartWatch) CleanUp(ctx context.Context, recs []plugin.Record) ([]plugin.Result, error) {
	defer r.update()
	return r.metered.CleanUp(ctx, recs)
}

// throughputMetrics show the coalescers and limits.
type throughputMetrics struct {
	calls    *prometheus.CounterVec
	records  *prometheus.HistogramVec
	orders   *prometheus.HistogramVec
	retries  *prometheus.CounterVec
	throttle *prometheus.CounterVec
	restarts *prometheus.GaugeVec
}

func newThroughputMetrics(f promauto.Factory) *throughputMetrics {
	sizes := []float64{1, 2, 5, 10, 20, 50, 100, 200, 500}
	return &throughputMetrics{
		calls: f.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecert_provider_coalesced_calls_total",
			Help: "Coalesced calls sent to provider plugins, by instance and method (present, cleanup); retries count.",
		}, []string{"instance", "method"}),
		records: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zonecert_provider_call_records",
			Help:    "Records per coalesced provider call, by instance and method.",
			Buckets: sizes,
		}, []string{"instance", "method"}),
		orders: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zonecert_provider_call_orders",
			Help:    "Orders served by one coalesced provider call, by instance and method.",
			Buckets: sizes,
		}, []string{"instance", "method"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecert_provider_retried_records_total",
			Help: "Records sent again after a retryable failure, by instance and code (rate-limited, other: a crashed plugin or a transient error).",
		}, []string{"instance", "code"}),
		throttle: f.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecert_provider_limit_wait_seconds_total",
			Help: "Time provider calls waited for the instance's limits (calls in flight, rate limit, backoff).",
		}, []string{"instance"}),
		restarts: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zonecert_plugin_restarts",
			Help: "Restarts of the instance's plugin after a crash, since it was started.",
		}, []string{"instance"}),
	}
}

func (t *throughputMetrics) hooks(inst string) dns01.CoalescerHooks {
	return dns01.CoalescerHooks{
		Call: func(op string, records, orders int) {
			t.calls.WithLabelValues(inst, op).Inc()
			t.records.WithLabelValues(inst, op).Observe(float64(records))
			t.orders.WithLabelValues(inst, op).Observe(float64(orders))
		},
		Retry: func(_ string, code plugin.Code, records int, _ time.Duration) {
			t.retries.WithLabelValues(inst, code.String()).Add(float64(records))
		},
		Waited: func(d time.Duration) { t.throttle.WithLabelValues(inst).Add(d.Seconds()) },
	}
}
