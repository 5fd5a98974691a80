package dns01

import (
	"context"
	"log/slog"
	"time"

	"github.com/zonecert/zonecert/core/progress"
)

func errAttr(err error) slog.Attr { return slog.String("err", err.Error()) }

// notify sends one event per item of the zone batch's record id (all
// records when id is ""), filling the item's identifier, FQDN and zone.
func (s *Solver) notify(ctx context.Context, b *Batch, zb *zoneBatch, id string, ev progress.Event) {
	for rid, items := range zb.items {
		if id != "" && rid != id {
			continue
		}
		for _, i := range items {
			it := b.Items[i]
			s.emit(ctx, it, ev)
		}
	}
}

// since is the time elapsed since t on the Solver's clock.
func (s *Solver) since(t time.Time) time.Duration { return s.now().Sub(t) }

// emit reports ev for one item, stamped with the Solver's clock.
func (s *Solver) emit(ctx context.Context, it Item, ev progress.Event) {
	ev.Identifier, ev.FQDN, ev.Zone = it.Identifier, it.FQDN, it.Zone
	if ev.Time.IsZero() {
		ev.Time = s.now()
	}
	s.obs.Observe(ctx, ev)
}
