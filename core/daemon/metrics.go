package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the daemon's Prometheus series, on a registry of its own
// (never the global one), named after the Prometheus naming guide.
type metrics struct {
	reg *prometheus.Registry

	notAfter      *prometheus.GaugeVec
	orders        *prometheus.CounterVec
	renewals      prometheus.Counter
	failures      *prometheus.CounterVec
	orderDuration *prometheus.HistogramVec
	propagation   prometheus.Histogram
	rpcDuration   *prometheus.HistogramVec
	rpcErrors     *prometheus.CounterVec
	badNonce      prometheus.Counter
	rateLimited   prometheus.Counter
	gateWait      *prometheus.CounterVec
	inFlight      prometheus.Gauge
	scheduled     prometheus.Gauge
	reloads       *prometheus.CounterVec
	hookFailures  *prometheus.CounterVec
	tp            *throughputMetrics // throughput.go
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := promauto.With(reg)
	// Orders take seconds (a fast CA and DNS) to minutes (slow secondaries).
	orderBuckets := []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600}
	m := &metrics{
		reg: reg,
		tp:  newThroughputMetrics(f),
		notAfter: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zonecert_certificate_not_after_seconds",
			Help: "Expiry of the stored certificate, as a unix time.",
		}, []string{"name"}),
		orders: f.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecert_orders_total",
			Help: "Orders started, by why: missing, changed (the configured domains differ), ari (the CA's renewal window), expiring (a third of the lifetime left).",
		}, []string{"reason"}),
		renewals: f.NewCounter(prometheus.CounterOpts{
			Name: "zonecert_renewals_total",
			Help: "Certificates renewed: orders that replaced a stored certificate.",
		}),
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecert_order_failures_total",
			Help: "Failed orders, by reason: ca, rate_limited, dns, input, storage, internal, provider_start, canceled.",
		}, []string{"reason"}),
		orderDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zonecert_order_duration_seconds",
			Help:    "Time from the start of an order to its end, by result (success, failure).",
			Buckets: orderBuckets,
		}, []string{"result"}),
		propagation: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "zonecert_propagation_wait_seconds",
			Help:    "Time from handing an order's records to the providers until every authoritative nameserver served them.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120},
		}),
		rpcDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zonecert_plugin_rpc_duration_seconds",
			Help:    "Latency of calls to provider plugins, by provider instance and method.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"instance", "method"}),
		rpcErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecert_plugin_rpc_errors_total",
			Help: "Failed calls to provider plugins (a whole call or any of its records), by provider instance and method.",
		}, []string{"instance", "method"}),
		badNonce: f.NewCounter(prometheus.CounterOpts{
			Name: "zonecert_acme_bad_nonce_total",
			Help: "badNonce rejections from the CA (each is retried with a fresh nonce).",
		}),
		rateLimited: f.NewCounter(prometheus.CounterOpts{
			Name: "zonecert_acme_rate_limited_total",
			Help: "Answers from the CA with HTTP 429 or a rateLimited problem.",
		}),
		gateWait: f.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecert_acme_gate_wait_seconds_total",
			Help: "Time requests to the CA waited for the bound on newOrders in flight (new_order_concurrency), which also keeps newOrders apart from authorization requests; by request: new-order, authorization; fleet-new-order is the wait for a slot of the fleet's bound (fleet_new_order_concurrency).",
		}, []string{"request"}),
		inFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "zonecert_orders_in_flight",
			Help: "Orders running now.",
		}),
		scheduled: f.NewGauge(prometheus.GaugeOpts{
			Name: "zonecert_certificates_managed",
			Help: "Certificates in the running configuration.",
		}),
		reloads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecert_config_reloads_total",
			Help: "Configuration reloads (SIGHUP), by result: applied, refused.",
		}, []string{"result"}),
		hookFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "zonecert_hook_failures_total",
			Help: "Hooks that failed, by kind: pre, post, deploy.",
		}, []string{"kind"}),
	}
	// Shown from the start, so a dashboard sees the bound before it bites.
	for _, request := range []string{"new-order", "authorization"} {
		m.gateWait.WithLabelValues(request)
	}
	return m
}
