package config

import (
	"time"

	"github.com/zonecert/zonecert/core/dns01"
	"github.com/zonecert/zonecert/plugin"
)

// Limits shape the calls the daemon makes to one provider instance: its
// records from concurrent orders are joined per zone (coalesce_window),
// at most max_calls calls are in flight, and at most rate_limit start per
// second (0: no bound).
type Limits struct {
	CoalesceWindow time.Duration
	MaxCalls       int
	Rate           float64
	Burst          int
}

// DefaultLimits are the limits of an instance whose table sets none, and
// of every provider of a `renew` run, which has no configuration file.
func DefaultLimits() Limits {
	return Limits{CoalesceWindow: dns01.DefaultCoalesceWindow, MaxCalls: dns01.DefaultMaxCalls, Burst: 1}
}

// Coalescer puts the coalescer these limits describe in front of p, one
// provider instance (one plugin process with its settings). Every order
// on the instance must go through the same one: the daemon builds it per
// instance, a renew run per plugin it starts. hooks observe it.
func (l Limits) Coalescer(p plugin.Provider, hooks dns01.CoalescerHooks) *dns01.Coalescer {
	return dns01.NewCoalescer(p, dns01.CoalescerConfig{
		Window: l.CoalesceWindow, MaxCalls: l.MaxCalls, Rate: l.Rate, Burst: l.Burst, Hooks: hooks,
	})
}

type limitsDoc struct {
	CoalesceWindow string   `toml:"coalesce_window"`
	MaxCalls       *int     `toml:"max_calls"`
	Rate           *float64 `toml:"rate_limit"`
	Burst          *int     `toml:"rate_burst"`
}

func (v *validator) limits(d limitsDoc, name string) Limits {
	l := DefaultLimits()
	l.CoalesceWindow = v.duration(d.CoalesceWindow, l.CoalesceWindow, "providers", name, "coalesce_window")
	if d.MaxCalls != nil {
		if *d.MaxCalls < 1 {
			v.errorf(v.lines.at("providers", name, "max_calls"), "providers.%s.max_calls: want at least 1", name)
		}
		l.MaxCalls = *d.MaxCalls
	}
	if d.Rate != nil {
		if *d.Rate < 0 {
			v.errorf(v.lines.at("providers", name, "rate_limit"), "providers.%s.rate_limit: want calls per second, 0 for no limit", name)
		}
		l.Rate = *d.Rate
	}
	if d.Burst != nil {
		if *d.Burst < 1 {
			v.errorf(v.lines.at("providers", name, "rate_burst"), "providers.%s.rate_burst: want at least 1", name)
		}
		l.Burst = *d.Burst
	}
	if l.CoalesceWindow <= 0 {
		v.errorf(v.lines.at("providers", name, "coalesce_window"), "providers.%s.coalesce_window: must be positive", name)
	}
	return l
}
