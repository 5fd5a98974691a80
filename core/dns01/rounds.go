package dns01

import (
	"slices"
	"strings"
)

// Rounds splits prepared items into rounds for a provider that keeps at
// most max values at one name (plugin.Capabilities.MaxValuesPerName;
// acme-dns keeps two): no round puts more than max distinct values at one
// FQDN, so publishing a round never pushes out a value the CA has yet to
// see. Each round is published, validated and cleaned up before the next.
//
// A wildcard and its apex at the same FQDN stay in one round when max is 2
// or more, so the common order still makes one round trip; items with the
// same value at the same FQDN count once. Rounds are filled first come,
// first served, and each holds indexes into items in ascending order. With
// max <= 0 (no limit) everything is one round.
func Rounds(items []Item, max int) [][]int {
	all := make([]int, len(items))
	for i := range items {
		all[i] = i
	}
	if max <= 0 || len(items) == 0 {
		return [][]int{all}
	}
	var rounds [][]int
	var used []map[string]map[string]bool // per round: FQDN → values
	place := func(unit []int) {
		fqdn := items[unit[0]].FQDN
		values := map[string]bool{}
		for _, i := range unit {
			values[items[i].Value] = true
		}
		for r := range rounds {
			n := len(used[r][fqdn])
			for v := range values {
				if !used[r][fqdn][v] {
					n++
				}
			}
			if n <= max {
				rounds[r] = append(rounds[r], unit...)
				for v := range values {
					used[r][fqdn][v] = true
				}
				return
			}
		}
		rounds = append(rounds, slices.Clone(unit))
		used = append(used, map[string]map[string]bool{})
		for _, it := range items {
			used[len(used)-1][it.FQDN] = map[string]bool{}
		}
		for v := range values {
			used[len(used)-1][fqdn][v] = true
		}
	}
	taken := make([]bool, len(items))
	for i, it := range items {
		if taken[i] {
			continue
		}
		unit := []int{i}
		taken[i] = true
		partner := "*." + it.Identifier
		if base, ok := strings.CutPrefix(it.Identifier, "*."); ok {
			partner = base
		}
		for j := i + 1; j < len(items); j++ {
			o := items[j]
			if taken[j] || o.FQDN != it.FQDN {
				continue
			}
			if o.Value == it.Value || o.Identifier == partner {
				unit = append(unit, j)
				taken[j] = true
			}
		}
		if distinct(items, unit) > max {
			for _, k := range unit {
				place([]int{k})
			}
			continue
		}
		place(unit)
	}
	for _, r := range rounds {
		slices.Sort(r)
	}
	return rounds
}

func distinct(items []Item, unit []int) int {
	seen := map[string]bool{}
	for _, i := range unit {
		seen[items[i].Value] = true
	}
	return len(seen)
}
