// Package layering keeps the package graph the shape docs/DESIGN.md
// draws: `make lint` runs this test, which fails when a package imports a
// layer it may not (a layer above it, or a sibling it must not know).
package layering

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/zonecert/zonecert/"

// allowed maps each layer (a package path in this module; a package
// belongs to the longest layer that is a prefix of its path) to the layers
// its non-test code may import (a package may import its own layer). Keep it in step with docs/DESIGN.md,
// "Layers". Tests may import more (internal/testenv, the conformance kit).
func allowed() map[string][]string {
	return map[string][]string{
		"cmd":                        {"core", "core/acme", "core/dns01", "core/preflight", "core/progress", "core/storage", "core/storage/etcdstore", "plugin", "plugin/host"},
		"core":                       {"core/acme", "core/dns01", "core/preflight", "core/progress", "core/storage", "plugin"},
		"core/preflight":             {"core/acme", "core/dnsq", "plugin"},
		"core/acme":                  nil,
		"core/dns01":                 {"core/acme", "core/dnsq", "core/progress", "plugin"},
		"core/dnsq":                  nil,
		"core/progress":              nil,
		"core/storage":               nil,
		"core/storage/etcdstore":     {"core/storage"},
		"core/storage/storagetest":   {"core/storage"},
		"internal/testenv":           nil,
		"internal/layering":          nil,
		"internal/faultplugin":       {"plugin", "plugin/sdk"},
		"internal/faultproxy":        nil,
		"internal/fakeroute53":       {"plugin/conformance/dnstest"},
		"internal/fakeacmedns":       {"plugin/conformance/dnstest"},
		"plugin":                     nil,
		"plugin/proto":               nil,
		"plugin/internal/wire":       {"plugin", "plugin/proto"},
		"plugin/host":                {"plugin", "plugin/internal/wire", "plugin/proto"},
		"plugin/sdk":                 {"plugin", "plugin/internal/wire", "plugin/proto"},
		"plugin/internal/testplugin": {"plugin", "plugin/sdk"},
		"plugin/conformance":         {"plugin", "plugin/host", "plugin/sdk", "plugin/conformance/dnstest"},
		"plugin/conformance/dnstest": nil,
		"providers":                  {"plugin", "plugin/sdk", "plugin/conformance", "plugin/conformance/dnstest", "providers/internal"},
		"providers/internal":         {"plugin"},
	}
}

// under reports whether pkg is layer or below it.
func under(pkg, layer string) bool { return pkg == layer || strings.HasPrefix(pkg, layer+"/") }

// layerOf is the longest layer pkg is under, "" if none.
func layerOf(pkg string, rules map[string][]string) string {
	best := ""
	for l := range rules {
		if under(pkg, l) && len(l) > len(best) {
			best = l
		}
	}
	return best
}

// violations lists what is wrong with pkg importing imports (both relative
// to the module).
func violations(pkg string, imports []string, rules map[string][]string) []string {
	layer := layerOf(pkg, rules)
	if layer == "" {
		return []string{pkg + " belongs to no layer: add it to docs/DESIGN.md and to allowed()"}
	}
	var out []string
	for _, imp := range imports {
		il := layerOf(imp, rules)
		if il != layer && !slices.Contains(rules[layer], il) {
			out = append(out, pkg+" (layer "+layer+") imports "+imp+" (layer "+il+")")
		}
	}
	return out
}

func TestPackageGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs go list")
	}
	cmd := exec.CommandContext(t.Context(), "go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rules := allowed()
	n := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg, ok := strings.CutPrefix(fields[0], module)
		if !ok {
			continue
		}
		n++
		var imports []string
		for _, imp := range fields[1:] {
			if rel, ok := strings.CutPrefix(imp, module); ok {
				imports = append(imports, rel)
			}
		}
		for _, v := range violations(pkg, imports, rules) {
			t.Error(v)
		}
	}
	if n < 10 {
		t.Fatalf("go list named %d packages of this module; want them all", n)
	}
}

// The checker itself catches the imports the design forbids.
func TestViolations(t *testing.T) {
	t.Parallel()
	rules := allowed()
	for _, bad := range [][2]string{
		{"core/acme", "core/dns01"},
		{"core/acme", "plugin/host"},
		{"core/dns01", "core"},
		{"core/dns01", "core/storage"},
		{"plugin", "core"},
		{"plugin/host", "core/dns01"},
		{"providers/route53", "core"},
		{"providers/route53", "plugin/host"},
		{"core", "plugin/host"},
		{"core", "internal/testenv"},
		{"cmd/zonecert", "providers/rfc2136"},
	} {
		if v := violations(bad[0], []string{bad[1]}, rules); len(v) != 1 {
			t.Errorf("%s importing %s: violations %q, want one", bad[0], bad[1], v)
		}
	}
	for _, good := range [][2]string{
		{"core", "core/dns01"}, {"core/dns01", "plugin"}, {"cmd/zonecert", "plugin/host"},
		{"providers/rfc2136", "providers/internal/txtrr"}, {"core/dns01", "core/progress"},
	} {
		if v := violations(good[0], []string{good[1]}, rules); len(v) != 0 {
			t.Errorf("%s importing %s: violations %q, want none", good[0], good[1], v)
		}
	}
	if v := violations("newtop/x", nil, rules); len(v) != 1 {
		t.Errorf("a package outside every layer: %q", v)
	}
}
