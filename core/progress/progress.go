// Package progress is the one progress event of zonecert: the engine and
// dns01 emit it, the CLI display, log lines and metrics read it. It is a
// leaf package (standard library only) so every layer may import it.
package progress

import (
	"context"
	"time"
)

// Stage is a step in an order's life, reported per identifier (or for the
// whole order when Event.Identifier is empty). The string is stable: logs
// and JSON carry it.
type Stage string

// Stages in the order they normally happen. dns01 emits publishing through
// cleaned-up and failed; the engine emits the others.
const (
	Account     Stage = "account"     // order-level: account reused or registered
	Order       Stage = "order"       // order-level: order created (Detail: its URL)
	Pending     Stage = "pending"     // authorization fetched, challenge chosen
	Publishing  Stage = "publishing"  // the provider is creating the record at FQDN in Zone
	Syncing     Stage = "syncing"     // the provider waits for its own servers (plugin.Syncer)
	Propagating Stage = "propagating" // polling authoritative servers: Ready of Total addresses serve the value
	Propagated  Stage = "propagated"  // every address serves the value (or the wait mode said so)
	Validating  Stage = "validating"  // challenge answered; the CA is checking
	Valid       Stage = "valid"       // authorization valid
	Invalid     Stage = "invalid"     // authorization failed (Err says why)
	Failed      Stage = "failed"      // a DNS step failed for this identifier (Err says why)
	Finalizing  Stage = "finalizing"  // order-level: CSR sent, waiting for issuance
	Issued      Stage = "issued"      // order-level: certificate downloaded
	Stored      Stage = "stored"      // order-level: files written (Detail: fullchain path)
	CleaningUp  Stage = "cleaning-up" // removing challenge records
	CleanedUp   Stage = "cleaned-up"  // a record is removed and unjournaled
	// LeftInPlace: the provider cannot delete (plugin.Capabilities.NoDelete),
	// so the record stays until its API replaces it; it is unjournaled.
	LeftInPlace Stage = "left-in-place"
	// TakenOver: order-level, emitted by Recover when it cleans up the
	// journaled records of another order whose owner is gone (a crashed
	// run, or in a fleet another daemon whose lease ended). Detail names
	// that owner, with its lease where the journal recorded one; Total
	// counts its records.
	TakenOver Stage = "taken-over"
)

// Event is one progress report. Fields that do not apply are zero.
type Event struct {
	Time       time.Time
	Stage      Stage
	Identifier string // as in the order, "*." kept; empty for order-level events
	FQDN       string // where the challenge record is published
	Zone       string // the zone holding FQDN
	Provider   string // the DNS provider's name, where known
	// Ready and Total count name server addresses serving the value while
	// Propagating.
	Ready, Total int
	Detail       string // free text for humans: an URL, a path, a chain
	Err          error
}

// Observer receives progress. Observe must return quickly and be safe for
// concurrent calls: the engine and dns01 call it from several goroutines.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f(ctx, e).
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Discard ignores every event; use it for a nil Observer.
func Discard() Observer { return ObserverFunc(func(context.Context, Event) {}) }
