package config

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// lines maps a key path to the line it is written on, so validation errors
// can name it. A path is the key segments joined by "\x00"; array elements
// and array tables are "#<index>" segments ("certificate\x00#0\x00name").
type lines map[string]int

func pathKey(segs ...string) string { return strings.Join(segs, "\x00") }

func idx(i int) string { return "#" + strconv.Itoa(i) }

// indexLines parses doc a second time with go-toml's AST parser, which keeps
// positions, and records the line of every table, key and array element. A
// document that does not parse gives what was indexed so far; the strict
// decoder reports the syntax error itself.
func indexLines(doc []byte) lines {
	out := lines{}
	p := unstable.Parser{}
	p.Reset(doc)
	// Offsets of line starts; a position's line is found by binary search
	// (Parser.Shape counts from the start every time: quadratic).
	starts := []int{0}
	for i, c := range doc {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	line := func(r unstable.Range) int {
		if r.Length == 0 && r.Offset == 0 {
			return 0
		}
		n, found := slices.BinarySearch(starts, int(r.Offset))
		if !found {
			return n // starts[n-1] < offset: line n (1-based)
		}
		return n + 1
	}
	keyOf := func(n *unstable.Node) ([]string, int) {
		var segs []string
		ln := 0
		it := n.Key()
		for it.Next() {
			k := it.Node()
			if ln == 0 {
				ln = line(k.Raw)
			}
			segs = append(segs, string(k.Data))
		}
		return segs, ln
	}
	var value func(prefix []string, n *unstable.Node, ln int)
	value = func(prefix []string, n *unstable.Node, ln int) {
		if l := line(n.Raw); l > 0 {
			ln = l
		}
		out[pathKey(prefix...)] = ln
		switch n.Kind {
		case unstable.Array:
			it, i := n.Children(), 0
			for it.Next() {
				value(append(clip(prefix), idx(i)), it.Node(), ln)
				i++
			}
		case unstable.InlineTable:
			it := n.Children()
			for it.Next() {
				kv := it.Node()
				segs, kl := keyOf(kv)
				value(append(clip(prefix), segs...), kv.Value(), kl)
			}
		}
	}
	var table []string
	arrays := map[string]int{}
	for p.NextExpression() {
		n := p.Expression()
		switch n.Kind {
		case unstable.Table:
			segs, ln := keyOf(n)
			table = segs
			out[pathKey(table...)] = ln
		case unstable.ArrayTable:
			segs, ln := keyOf(n)
			k := pathKey(segs...)
			i := arrays[k]
			arrays[k] = i + 1
			table = append(segs, idx(i))
			out[pathKey(table...)] = ln
		case unstable.KeyValue:
			segs, ln := keyOf(n)
			value(append(clip(table), segs...), n.Value(), ln)
		}
	}
	return out
}

// clip returns s with no spare capacity, so appends never share arrays.
func clip(s []string) []string { return s[:len(s):len(s)] }

// at returns the line of the deepest indexed prefix of path (a missing key
// is reported at its table).
func (l lines) at(segs ...string) int {
	for n := len(segs); n > 0; n-- {
		if ln, ok := l[pathKey(segs[:n]...)]; ok && ln > 0 {
			return ln
		}
	}
	return 0
}
