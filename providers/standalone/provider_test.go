package main

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/zonecert/zonecert/plugin/sdk"
)

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		s       Settings
		wantErr string // substring; empty means valid
		want    config
	}{
		{"defaults", Settings{Listen: "127.0.0.1:53", Zone: "ACME.Example.com"}, "",
			config{listen: "127.0.0.1:53", zone: "acme.example.com.", ns: "ns.acme.example.com.", nsAddr: netip.MustParseAddr("127.0.0.1")}},
		{"all addresses: no default NS address", Settings{Listen: "0.0.0.0:53", Zone: "acme.example.com.", TTL: 30}, "",
			config{listen: "0.0.0.0:53", zone: "acme.example.com.", ns: "ns.acme.example.com.", ttl: 30}},
		{"explicit NS and address", Settings{Listen: "[::]:53", Zone: "acme.example.com", NS: "dns.example.net", NSAddress: "2001:db8::53"}, "",
			config{listen: "[::]:53", zone: "acme.example.com.", ns: "dns.example.net.", nsAddr: netip.MustParseAddr("2001:db8::53")}},
		{"missing listen", Settings{Zone: "acme.example.com"}, "STANDALONE_LISTEN is required", config{}},
		{"listen without port", Settings{Listen: "127.0.0.1", Zone: "acme.example.com"}, "want host:port", config{}},
		{"missing zone", Settings{Listen: "127.0.0.1:53"}, "STANDALONE_ZONE is required", config{}},
		{"root zone", Settings{Listen: "127.0.0.1:53", Zone: "."}, "not a valid zone name", config{}},
		{"bad zone", Settings{Listen: "127.0.0.1:53", Zone: "a..b"}, "not a valid zone name", config{}},
		{"bad NS address", Settings{Listen: "127.0.0.1:53", Zone: "z.test", NSAddress: "ns.example.com"}, "STANDALONE_NS_ADDRESS", config{}},
		{"negative TTL", Settings{Listen: "127.0.0.1:53", Zone: "z.test", TTL: -5}, "STANDALONE_TTL", config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.s.validate()
			if tt.wantErr != "" {
				var se *sdk.SettingsError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validate error = %v; want a SettingsError mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			if got != tt.want {
				t.Fatalf("config = %+v; want %+v", got, tt.want)
			}
		})
	}
}
