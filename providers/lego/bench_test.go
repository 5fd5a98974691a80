package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/testenv"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/host"
)

// BenchmarkPresent compares one Present plus CleanUp through the lego
// bridge (lego's dnsupdate) with the native rfc2136 plugin, against one
// BIND9, and reports each plugin's start-up time and resident memory.
// Both binaries come from ZONECERT_BIN (make build).
//
//	make build && cd providers/lego && ZONECERT_BIN=$PWD/../../bin go test -run '^$' -bench Present -benchtime 50x .
func BenchmarkPresent(b *testing.B) {
	dir := os.Getenv("ZONECERT_BIN")
	if dir == "" {
		b.Skip("needs ZONECERT_BIN with zonecert-dns-lego and zonecert-dns-rfc2136 (make build)")
	}
	bind := testenv.StartBIND(b, testenv.BINDConfig{Zones: []testenv.Zone{{Name: "example.test"}}})
	ns := bind.Primary.String()
	plugins := []struct {
		name string
		env  map[string]string
	}{
		{"lego", map[string]string{"LEGO_PROVIDER": "dnsupdate", "DNSUPDATE_NAMESERVER": ns, "DNSUPDATE_TSIG_KEY": bind.TSIGKey,
			"DNSUPDATE_TSIG_SECRET": bind.TSIGSecret, "DNSUPDATE_TSIG_ALGORITHM": bind.TSIGAlgorithm}},
		{"rfc2136", map[string]string{"RFC2136_NAMESERVER": ns, "RFC2136_TSIG_KEY": bind.TSIGKey,
			"RFC2136_TSIG_SECRET": bind.TSIGSecret, "RFC2136_TSIG_ALGORITHM": bind.TSIGAlgorithm}},
	}
	for _, p := range plugins {
		b.Run(p.name, func(b *testing.B) {
			start := time.Now()
			c, err := host.Start(b.Context(), host.Config{Name: p.name, Path: filepath.Join(dir, "zonecert-dns-"+p.name),
				LookupEnv: envOf(p.env), Resolvers: []string{ns + ":53"}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			startup := time.Since(start)
			kib := childRSS("zonecert-dns-" + p.name)
			b.ResetTimer()
			for i := range b.N {
				ka := fmt.Sprintf("tok%d.thumb", i)
				r := plugin.Record{ID: "1", FQDN: "_acme-challenge.bench.example.test.", Zone: "example.test.", Value: digest(ka),
					TTL: 60, Identifier: "bench.example.test", Token: fmt.Sprintf("tok%d", i), KeyAuthorization: ka}
				res, err := c.Present(b.Context(), []plugin.Record{r})
				if err != nil || res[0].Err != nil {
					b.Fatalf("Present: %v %v", err, res)
				}
				r.State = res[0].State
				if res, err = c.CleanUp(b.Context(), []plugin.Record{r}); err != nil || res[0].Err != nil {
					b.Fatalf("CleanUp: %v %v", err, res)
				}
			}
			b.ReportMetric(float64(startup.Milliseconds()), "start-ms")
			b.ReportMetric(float64(kib)/1024, "rss-MiB")
		})
	}
}

// childRSS is the resident memory in KiB of this process's child named
// name, 0 if not found.
func childRSS(name string) int {
	ents, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var pname, ppid string
		var rss int
		for _, l := range strings.Split(string(st), "\n") {
			k, v, _ := strings.Cut(l, ":")
			v = strings.TrimSpace(v)
			switch k {
			case "Name":
				pname = v
			case "PPid":
				ppid = v
			case "VmRSS":
				rss, _ = strconv.Atoi(strings.Fields(v)[0])
			}
		}
		if ppid == me && strings.HasPrefix(name, pname) {
			return rss
		}
	}
	return 0
}
