package main

import (
	"github.com/spf13/pflag"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/preflight"
)

// preflightFlags turn the checks run before every order on and off.
type preflightFlags struct {
	noPreflight bool
}

func bindPreflightFlags(fl *pflag.FlagSet, f *preflightFlags) {
	fl.BoolVar(&f.noPreflight, "no-preflight", false,
		"skip the checks run before each order (delegation, CNAME chain, CAA, DNSSEC; see zonecert doctor)")
}

// preflighter is the engine's Config.Preflight for this run: nil with
// --no-preflight. Resolvers and port come from each request.
func (f preflightFlags) preflighter() core.Preflighter {
	if f.noPreflight {
		return nil
	}
	return preflight.New(preflight.Config{})
}
