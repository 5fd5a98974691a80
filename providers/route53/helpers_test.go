package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/miekg/dns"

	"github.com/zonecert/zonecert/internal/fakeroute53"
	"github.com/zonecert/zonecert/plugin"
)

// testProvider builds a provider against the fake, with static credentials
// given through the SDK's config loader and no shared config files, so the
// test does not depend on the machine's AWS setup.
func testProvider(t testing.TB, f *fakeroute53.Server, s Settings, akid, secret string) *provider {
	t.Helper()
	if s.TTL == 0 {
		s.TTL = 10
	}
	p, err := newProvider(t.Context(), s, nil, options{
		loadOptions: []func(*config.LoadOptions) error{
			config.WithBaseEndpoint(f.URL),
			config.WithSharedConfigFiles([]string{}),
			config.WithSharedCredentialsFiles([]string{}),
			config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, Source: "test"}, nil
			})),
		},
		maxBackoff: 20 * time.Millisecond,
		pollFirst:  5 * time.Millisecond,
		pollMax:    20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func goodProvider(t testing.TB, f *fakeroute53.Server, s Settings) *provider {
	return testProvider(t, f, s, fakeroute53.AccessKeyID, fakeroute53.SecretAccessKey)
}

func rec(id, fqdn, zone, value string) plugin.Record {
	return plugin.Record{ID: id, FQDN: fqdn, Zone: zone, Value: value}
}

// mustOK fails unless every result succeeded, and returns the records with
// their cleanup states attached.
func mustOK(t testing.TB, records []plugin.Record, results []plugin.Result, err error) []plugin.Record {
	t.Helper()
	if err != nil {
		t.Fatalf("call failed: %v", err)
	}
	if len(results) != len(records) {
		t.Fatalf("%d results for %d records", len(results), len(records))
	}
	out := slices.Clone(records)
	for _, r := range results {
		if r.Err != nil {
			t.Fatalf("record %s: %v", r.ID, r.Err)
		}
		i := slices.IndexFunc(out, func(x plugin.Record) bool { return x.ID == r.ID })
		if i < 0 {
			t.Fatalf("result for unknown record %s", r.ID)
		}
		out[i].State = r.State
	}
	return out
}

// oneErr returns the single per-record error of a one-record call.
// Use as oneErr(t)(p.Present(ctx, records)).
func oneErr(t testing.TB) func([]plugin.Result, error) *plugin.Error {
	return func(results []plugin.Result, err error) *plugin.Error {
		t.Helper()
		if err != nil {
			t.Fatalf("call error %v; want a per-record error", err)
		}
		if len(results) != 1 || results[0].Err == nil {
			t.Fatalf("results %+v; want one failed record", results)
		}
		return results[0].Err
	}
}

// txtValues returns the unquoted values of the API's TXT set at name.
func txtValues(f *fakeroute53.Server, zoneID, name string) []string {
	_, raw, _ := f.RRSet(zoneID, name, "TXT")
	var out []string
	for _, v := range raw {
		out = append(out, unquoteTXT(v))
	}
	slices.Sort(out)
	return out
}

// served returns the TXT strings the fake's nameserver answers at name.
func served(t testing.TB, f *fakeroute53.Server, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	in, err := dns.Exchange(m, f.DNSAddr())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	slices.Sort(out)
	return out
}

func equal(a []string, b ...string) bool {
	b = slices.Clone(b)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// callsString renders the fake's counters compactly for logs.
func callsString(c map[string]int) string {
	total := 0
	var parts []string
	for _, op := range []string{fakeroute53.OpListHostedZonesByName, fakeroute53.OpGetHostedZone,
		fakeroute53.OpListResourceRecordSets, fakeroute53.OpChangeResourceRecordSets, fakeroute53.OpGetChange} {
		total += c[op]
		if c[op] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", op, c[op]))
		}
	}
	return fmt.Sprintf("total=%d %s", total, strings.Join(parts, " "))
}
