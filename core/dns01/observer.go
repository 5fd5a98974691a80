package dns01

import (
	"context"
	"log/slog"
)

// Stage is where one identifier's DNS record is.
type Stage int

// Stages, in order. The engine adds its own (validating, valid, invalid)
// after StagePropagated.
const (
	StagePublishing Stage = iota + 1 // the provider is creating the record
	StageSyncing                     // the provider waits for its own servers (WaitForSync)
	StageWaiting                     // polling authoritative servers: Ready of Total addresses serve the value
	StagePropagated                  // every address serves the value (or the wait mode said so)
	StageCleaningUp                  // the provider is removing the record
	StageCleanedUp                   // the record is removed and unjournaled
	StageFailed                      // Err says why
)

func (s Stage) String() string {
	switch s {
	case StagePublishing:
		return "publishing"
	case StageSyncing:
		return "syncing"
	case StageWaiting:
		return "waiting"
	case StagePropagated:
		return "propagated"
	case StageCleaningUp:
		return "cleaning-up"
	case StageCleanedUp:
		return "cleaned-up"
	case StageFailed:
		return "failed"
	}
	return "stage?"
}

// Progress is one identifier's progress.
type Progress struct {
	Identifier string // as in Challenge, "*." included
	FQDN       string // where the record is published
	Zone       string
	Stage      Stage
	// Ready and Total count name server addresses during StageWaiting.
	Ready, Total int
	Err          error // set with StageFailed
}

// Observer receives progress. Calls come from several goroutines and must
// return quickly; the CLI renders them.
type Observer interface {
	DNSProgress(ctx context.Context, p Progress)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, p Progress)

// DNSProgress implements Observer.
func (f ObserverFunc) DNSProgress(ctx context.Context, p Progress) { f(ctx, p) }

func errAttr(err error) slog.Attr { return slog.String("err", err.Error()) }

// notify sends one Progress per item of the zone batch's record id (all
// records when id is "").
func (s *Solver) notify(ctx context.Context, b *Batch, zb *zoneBatch, id string, p Progress) {
	for rid, items := range zb.items {
		if id != "" && rid != id {
			continue
		}
		for _, i := range items {
			q := p
			it := b.Items[i]
			q.Identifier, q.FQDN, q.Zone = it.Identifier, it.FQDN, it.Zone
			s.obs.DNSProgress(ctx, q)
		}
	}
}
