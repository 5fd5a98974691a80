package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"example.com/zonecert-dns-filedns/filedns"
	"github.com/libdns/libdns"
	"github.com/zonecert/zonecert/plugin"
	"github.com/zonecert/zonecert/plugin/conformance"
	"github.com/zonecert/zonecert/plugin/conformance/dnstest"
	"github.com/zonecert/zonecert/plugin/host"
	"github.com/zonecert/zonecert/plugin/sdk/libdnsadapter"
)

const zone = "example.test."

// serve makes a zone directory and serves it over DNS, as the provider's
// nameserver would: a name's values at one TTL, the first one's, as BIND
// serves a zone file.
func serve(t *testing.T) (dir string, ns string) {
	dir = t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "example.test"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := &filedns.Provider{Dir: dir}
	srv := dnstest.StartValues(t, zone, func(fqdn string) []dnstest.Value {
		recs, err := p.GetRecords(context.Background(), zone)
		if err != nil {
			return nil
		}
		var out []dnstest.Value
		for _, r := range recs {
			if t, ok := r.(libdns.TXT); ok && libdns.AbsoluteName(t.Name, zone) == fqdn {
				out = append(out, dnstest.Value{Text: t.Text, TTL: uint32(t.TTL / time.Second)})
			}
		}
		return out
	})
	return dir, srv.Addr()
}

func TestConformanceInProcess(t *testing.T) {
	dir, ns := serve(t)
	conformance.Run(t, conformance.Config{
		Target: conformance.InProcess("filedns", func(context.Context) (plugin.Provider, error) {
			return libdnsadapter.Wrap(&filedns.Provider{Dir: dir}), nil
		}),
		Zone: zone, Nameservers: []string{ns}, Timeout: 5 * time.Second, PollInterval: 20 * time.Millisecond,
	})
}

// TestConformanceBinary builds the ten-line main and runs the kit against
// it through the host, each instance a new process.
func TestConformanceBinary(t *testing.T) {
	dir, ns := serve(t)
	bin := filepath.Join(t.TempDir(), "zonecert-dns-filedns")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	conformance.Run(t, conformance.Config{
		Target: conformance.Binary(bin, host.Config{Name: "filedns", Settings: map[string]string{"dir": dir}}),
		Zone:   zone, Nameservers: []string{ns}, Timeout: 10 * time.Second, PollInterval: 20 * time.Millisecond,
	})
}
