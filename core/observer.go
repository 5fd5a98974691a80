package core

import "time"

// Stage is a step in an order's life, reported per identifier (or for the
// whole order when Event.Identifier is empty).
type Stage string

// Stages in the order they normally happen.
const (
	StageAccount     Stage = "account"     // order-level: account reused or registered
	StageOrder       Stage = "order"       // order-level: order created
	StagePending     Stage = "pending"     // authorization fetched, challenge chosen
	StagePublishing  Stage = "publishing"  // TXT record handed to the provider
	StagePropagating Stage = "propagating" // waiting for every authoritative nameserver
	StageValidating  Stage = "validating"  // challenge answered; the CA is checking
	StageValid       Stage = "valid"       // authorization valid
	StageInvalid     Stage = "invalid"     // authorization failed
	StageFinalizing  Stage = "finalizing"  // order-level: CSR sent, waiting for issuance
	StageIssued      Stage = "issued"      // order-level: certificate downloaded
	StageStored      Stage = "stored"      // order-level: files written
	StageCleanup     Stage = "cleanup"     // order-level: challenge records removed
)

// Event is one progress report.
type Event struct {
	Time       time.Time
	Identifier string // empty for order-level events
	Stage      Stage
	Detail     string
	Err        error
}

// Observer receives progress. Observe must be quick and safe for concurrent
// calls; the engine calls it from its own goroutines.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }
