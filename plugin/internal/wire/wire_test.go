package wire

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zonecert/zonecert/plugin"
	providerv1 "github.com/zonecert/zonecert/plugin/proto/provider/v1"
)

func TestErrorsCrossTheWire(t *testing.T) {
	pe := &plugin.Error{Code: plugin.CodeRateLimited, Retryable: true, Message: "slow down", RetryAfter: 2500 * time.Millisecond}
	tests := []struct {
		name  string
		in    error
		check func(error) bool
	}{
		{"plugin error keeps code and retryable", fmt.Errorf("calling API: %w", pe), func(err error) bool {
			var got *plugin.Error
			return errors.As(err, &got) && *got == *pe
		}},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"canceled", context.Canceled, func(err error) bool { return errors.Is(err, context.Canceled) }},
		// A vendor API's Unavailable must not look like a dead plugin.
		{"foreign status", status.Error(codes.Unavailable, "vendor down"), func(err error) bool {
			return status.Code(err) == codes.Unknown && !errors.Is(err, ErrUnimplemented)
		}},
		{"plain", errors.New("boom"), func(err error) bool { return status.Convert(err).Message() == "boom" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromStatus(toStatus(tt.in)); !tt.check(got) {
				t.Fatalf("%v came back as %v", tt.in, got)
			}
		})
	}
	if err := fromStatus(status.Error(codes.Unimplemented, "no")); !errors.Is(err, ErrUnimplemented) {
		t.Fatalf("unimplemented: %v", err)
	}
}

func TestConversionsRoundTrip(t *testing.T) {
	m := plugin.Metadata{
		Name: "x", Version: "1", ProtocolVersion: 1, Description: "d", PassEnv: []string{"A"},
		Settings: []plugin.SettingSpec{
			{Name: "s", Env: []string{"S"}, Type: plugin.TypeDuration, Required: true, Secret: true, Default: "1s", Doc: "doc"},
			{Name: "i", Type: plugin.TypeInt}, {Name: "b", Type: plugin.TypeBool}, {Name: "t", Type: plugin.TypeString},
		},
		Capabilities: plugin.Capabilities{MaxBatch: 7, Sync: true, ListZones: true, NoDelete: true, MaxValuesPerName: 2, ProvisionedNames: true, ChallengeDetails: true},
	}
	got := MetadataFromProto(MetadataToProto(m))
	if fmt.Sprint(got) != fmt.Sprint(m) {
		t.Fatalf("metadata\n got %+v\nwant %+v", got, m)
	}
	recs := []plugin.Record{{ID: "1", FQDN: "a.b.", Zone: "b.", Value: "v", TTL: 9, State: []byte{0, 1},
		Identifier: "*.b", Token: "tok", KeyAuthorization: "tok.thumb"}}
	if r := recordsFromProto(recordsToProto(recs)); fmt.Sprint(r) != fmt.Sprint(recs) {
		t.Fatalf("records %+v", r)
	}
	res := []plugin.Result{{ID: "1", Err: &plugin.Error{Code: plugin.CodeOther, Retryable: true, Message: "m", RetryAfter: 1234 * time.Millisecond}},
		{ID: "2", Err: &plugin.Error{RetryAfter: -time.Second}}, {ID: "3", State: []byte("s")}}
	back := resultsFromProto(resultsToProto(res))
	if *back[0].Err != *res[0].Err || back[1].Err.RetryAfter != 0 || back[2].Err != nil {
		t.Fatalf("results %+v %+v", back[0].Err, back[1].Err)
	}
	for c := plugin.CodeOther; c <= plugin.CodeConflict; c++ {
		if codeFromProto(codeToProto(c)) != c {
			t.Errorf("code %v does not round-trip", c)
		}
	}
}

// TestOldPluginHasNoLimits: a plugin built before the limit fields existed
// sends none, which must read as "no limits", not as a zero cap.
func TestOldPluginHasNoLimits(t *testing.T) {
	old := &providerv1.Metadata{Name: "old", ProtocolVersion: 1, Capabilities: &providerv1.Capabilities{MaxBatch: 5, Sync: true}}
	got := MetadataFromProto(old).Capabilities
	if got.Limited() || got.MaxBatch != 5 || !got.Sync {
		t.Fatalf("capabilities of an old plugin = %+v", got)
	}
	if caps := MetadataFromProto(&providerv1.Metadata{}).Capabilities; caps != (plugin.Capabilities{}) {
		t.Fatalf("capabilities without the message = %+v", caps)
	}
}
