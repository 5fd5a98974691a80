package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zonecert/zonecert/internal/fakeroute53"
	"github.com/zonecert/zonecert/plugin"
)

// TestWaitForSync: the change stays PENDING (and unserved) until GetChange
// has been polled; WaitForSync returns once it is INSYNC, when the
// nameserver serves the value.
func TestWaitForSync(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{SyncAfterPolls: 3})
	f.AddZone(zone, false)
	f.AddZone("other.test.", false)
	p := goodProvider(t, f, Settings{})
	recs := []plugin.Record{rec("1", name, zone, "v"), rec("2", "_acme-challenge.other.test.", "other.test.", "w")}
	res, err := p.Present(t.Context(), recs)
	recs = mustOK(t, recs, res, err)
	if got := served(t, f, name); len(got) != 0 {
		t.Fatalf("served before sync: %v", got)
	}
	if err := p.WaitForSync(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if got := served(t, f, name); !equal(got, "v") {
		t.Fatalf("after WaitForSync the nameserver serves %v", got)
	}
	if got := served(t, f, "_acme-challenge.other.test."); !equal(got, "w") {
		t.Fatalf("after WaitForSync the other zone serves %v", got)
	}
	// Two zones, two changes, each polled until its third poll.
	if n := f.Calls()[fakeroute53.OpGetChange]; n != 6 {
		t.Errorf("%d GetChange calls; want 6", n)
	}
	if f.Pending() != 0 {
		t.Error("changes still pending")
	}
}

func TestWaitForSyncHonoursContext(t *testing.T) {
	t.Parallel()
	f := fakeroute53.New(t, fakeroute53.Options{SyncAfterPolls: 1 << 30})
	f.AddZone(zone, false)
	p := goodProvider(t, f, Settings{})
	recs := []plugin.Record{rec("1", name, zone, "v")}
	res, err := p.Present(t.Context(), recs)
	recs = mustOK(t, recs, res, err)
	// Cancel once the change has been polled twice: WaitForSync must keep
	// polling a pending change and then give up with the context's error.
	// (Counting polls within a fixed time would measure the machine's load.)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if f.Calls()[fakeroute53.OpGetChange] >= 2 || ctx.Err() != nil {
				cancel()
				return
			}
		}
	}()
	err = p.WaitForSync(ctx, recs)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v; want the context's cancellation", err)
	}
	if n := f.Calls()[fakeroute53.OpGetChange]; n < 2 {
		t.Errorf("returned after %d polls; want it to keep polling until cancelled", n)
	}
}

// TestSDKEnvironment drives the production constructor with only the
// environment the host would pass: credentials from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, the endpoint from AWS_ENDPOINT_URL_ROUTE_53 or
// AWS_ENDPOINT_URL, which the SDK honours itself. Not parallel: t.Setenv.
func TestSDKEnvironment(t *testing.T) {
	f := fakeroute53.New(t, fakeroute53.Options{})
	id := f.AddZone(zone, false)
	isolate := func(t *testing.T) {
		t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_PROFILE", "")
		t.Setenv("AWS_REGION", "")
		t.Setenv("AWS_DEFAULT_REGION", "")
		t.Setenv("AWS_MAX_ATTEMPTS", "")
		t.Setenv("AWS_RETRY_MODE", "")
	}
	for _, env := range []string{"AWS_ENDPOINT_URL_ROUTE_53", "AWS_ENDPOINT_URL"} {
		t.Run(env, func(t *testing.T) {
			isolate(t)
			t.Setenv(env, f.URL)
			t.Setenv("AWS_ACCESS_KEY_ID", fakeroute53.AccessKeyID)
			t.Setenv("AWS_SECRET_ACCESS_KEY", fakeroute53.SecretAccessKey)
			p, err := New(t.Context(), Settings{TTL: 10}, nil)
			if err != nil {
				t.Fatal(err)
			}
			v := "via-" + env
			recs := []plugin.Record{rec("1", name, zone, v)}
			res, err := p.Present(t.Context(), recs)
			recs = mustOK(t, recs, res, err)
			if got := txtValues(f, id, name); !equal(got, v) {
				t.Fatalf("zone holds %v", got)
			}
			res, err = p.CleanUp(t.Context(), recs)
			mustOK(t, recs, res, err)
		})
	}
	t.Run("AWS_MAX_ATTEMPTS", func(t *testing.T) {
		isolate(t)
		t.Setenv("AWS_ENDPOINT_URL_ROUTE_53", f.URL)
		t.Setenv("AWS_ACCESS_KEY_ID", fakeroute53.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", fakeroute53.SecretAccessKey)
		t.Setenv("AWS_MAX_ATTEMPTS", "1") // the SDK's setting beats our 6
		p, err := New(t.Context(), Settings{TTL: 10}, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.ResetCalls()
		f.Throttle(fakeroute53.OpListHostedZonesByName, 1)
		perr := oneErr(t)(p.Present(t.Context(), []plugin.Record{rec("1", name, zone, "v")}))
		if perr.Code != plugin.CodeRateLimited || !perr.Retryable {
			t.Fatalf("got %v; want rate-limited", perr)
		}
		if n := f.Calls()[fakeroute53.OpListHostedZonesByName]; n != 1 {
			t.Errorf("%d attempts; want 1", n)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		isolate(t)
		t.Setenv("AWS_ENDPOINT_URL_ROUTE_53", f.URL)
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		p, err := New(t.Context(), Settings{TTL: 10}, nil)
		if err != nil {
			t.Fatal(err)
		}
		before := f.Calls()[fakeroute53.OpListHostedZonesByName]
		perr := oneErr(t)(p.Present(t.Context(), []plugin.Record{rec("1", name, zone, "v")}))
		if perr.Code != plugin.CodeAuth {
			t.Fatalf("got %v; want auth", perr)
		}
		if f.Calls()[fakeroute53.OpListHostedZonesByName] != before {
			t.Error("an unsigned request reached the API")
		}
	})
}
