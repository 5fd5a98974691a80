package config

import (
	"strings"
	"testing"

	"github.com/zonecert/zonecert/core"
	"github.com/zonecert/zonecert/core/dns01"
)

// TestDaemonDefaults: with no [daemon] section the daemon runs enough
// orders at once to coalesce a storm's records (core.DefaultMaxConcurrent,
// the same bound as renew's), with one newOrder in flight to the CA.
func TestDaemonDefaults(t *testing.T) {
	start := strings.Index(goodDoc, "[daemon]")
	end := strings.Index(goodDoc, "[providers.bind]")
	doc := goodDoc[:start] + goodDoc[end:]
	cfg, err := parse(t, doc, 0o600, map[string]string{"RFC2136_TSIG_SECRET": "ZnJvbSBlbnY="})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Daemon.MaxConcurrent != core.DefaultMaxConcurrent || core.DefaultMaxConcurrent < 100 {
		t.Errorf("max_concurrent defaults to %d (core.DefaultMaxConcurrent %d)", cfg.Daemon.MaxConcurrent, core.DefaultMaxConcurrent)
	}
	if cfg.Daemon.NewOrderConcurrency != 1 {
		t.Errorf("new_order_concurrency defaults to %d", cfg.Daemon.NewOrderConcurrency)
	}
	if cfg.Daemon.FleetNewOrderConcurrency != cfg.Daemon.NewOrderConcurrency {
		t.Errorf("fleet_new_order_concurrency defaults to %d, want new_order_concurrency", cfg.Daemon.FleetNewOrderConcurrency)
	}
	if l := cfg.Providers["bind"].Limits; l.CoalesceWindow != dns01.DefaultCoalesceWindow || l.MaxCalls != dns01.DefaultMaxCalls {
		t.Errorf("provider limits default to %+v", l)
	}
}
