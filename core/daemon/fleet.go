package daemon

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/zonecert/zonecert/core/config"
	"github.com/zonecert/zonecert/core/progress"
	"github.com/zonecert/zonecert/core/storage"
)

// Several daemons may share one config and one store (etcd): a fleet.
// Before ordering, a daemon takes the certificate's claim lock with
// TryLock and checks again, under it, whether the certificate is still
// due: a daemon that lost the race, or that takes the claim after another
// finished the order, places none. The claim is on a lease (etcd: 10 s,
// kept alive), so when its holder dies another daemon takes the
// certificate over at its next check. The engine's certificate lock stays
// what serializes (and fences) the writes. On FS the claim is a flock
// that never contends with a single daemon.

// claimLease bounds a vanished holder's claim on backends with leases
// (etcd caps it at its lock TTL and keeps it alive while held).
const claimLease = time.Hour

// claimRetryMax bounds how long a daemon that found a certificate claimed
// elsewhere waits before it looks again (jittered, so a fleet does not
// retry in step).
const claimRetryMax = 5 * time.Second

type fleetMetrics struct {
	held      prometheus.Gauge
	busy      prometheus.Counter
	takeovers prometheus.Counter
}

func newFleetMetrics(reg prometheus.Registerer) *fleetMetrics {
	f := promauto.With(reg)
	return &fleetMetrics{
		held: f.NewGauge(prometheus.GaugeOpts{
			Name: "zonecert_fleet_claims_held",
			Help: "Certificates this daemon holds the claim of (ordering them now).",
		}),
		busy: f.NewCounter(prometheus.CounterOpts{
			Name: "zonecert_fleet_claims_busy_total",
			Help: "Due certificates left to another daemon that held their claim.",
		}),
		takeovers: f.NewCounter(prometheus.CounterOpts{
			Name: "zonecert_fleet_takeovers_total",
			Help: "Orders whose journaled records this daemon cleaned up after their owner (another daemon's lease, or a crashed run) was gone.",
		}),
	}
}

// observer counts the take-overs an order's journal recovery reports
// (progress.TakenOver, one per vanished owner) and passes every event on.
func (f *fleetMetrics) observer(next progress.Observer) progress.Observer {
	return progress.ObserverFunc(func(ctx context.Context, ev progress.Event) {
		if ev.Stage == progress.TakenOver {
			f.takeovers.Inc()
		}
		next.Observe(ctx, ev)
	})
}

// errClaimLost cancels an order whose claim's lease ended while it ran.
var errClaimLost = errors.New("the certificate's claim was lost (its lease ended): another daemon may take the order over")

// losable is a lock that can end before its release: an etcd lock whose
// lease ran out or whose keep-alive failed (etcdstore.Lock.Lost).
type losable interface{ Lost() <-chan struct{} }

// claim takes name's claim; ok is false when another daemon holds it (or
// the store failed), and next is then when to look again. While the claim
// is held, claimed is ctx, cancelled with errClaimLost if the claim's lease
// ends: the fleet then sees the certificate free, so another daemon may
// order it and, once this order's owner lease is gone too, remove its
// records (a take-over). Going on would at best be fenced at the final
// write, at worst wait out propagation_timeout for records already gone.
func (d *Daemon) claim(ctx context.Context, g *generation, name string, log *slog.Logger) (claimed context.Context, release func(), next time.Time, ok bool) {
	l, err := d.store.TryLock(ctx, storage.ClaimLock(name), claimLease)
	if err != nil {
		if errors.Is(err, storage.ErrLocked) {
			d.fleet.busy.Inc()
			log.LogAttrs(ctx, slog.LevelDebug, "certificate claimed by another daemon")
		} else {
			log.LogAttrs(ctx, slog.LevelWarn, "claiming certificate", slog.String("error", err.Error()))
		}
		wait := min(g.cfg.Daemon.RetryMin, claimRetryMax)
		return nil, nil, d.now().Add(wait/2 + rand.N(wait/2+1)), false
	}
	d.fleet.held.Inc()
	claimed, cancel := context.WithCancelCause(ctx)
	stopWatch := func() {}
	if lo, ok := l.(losable); ok {
		done := make(chan struct{})
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			select {
			case <-lo.Lost():
				log.LogAttrs(ctx, slog.LevelWarn, "certificate claim lost; abandoning the order")
				cancel(errClaimLost)
			case <-done:
			}
		}()
		stopWatch = func() { close(done); <-watched }
	}
	return claimed, func() {
		stopWatch() // before the release, which ends the lease too
		cancel(nil)
		d.fleet.held.Dec()
		_ = l.Release(context.WithoutCancel(ctx))
	}, time.Time{}, true
}

// stillDue checks cert again under its claim.
func (d *Daemon) stillDue(ctx context.Context, g *generation, cert config.Certificate) (Due, bool, error) {
	due, err := d.due(ctx, g, cert)
	if err != nil {
		return Due{}, false, err
	}
	return due, !due.At.After(d.now()), nil
}
