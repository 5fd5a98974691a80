package host

import (
	"testing"

	"github.com/zonecert/zonecert/plugin"
)

func TestDetailsOnlyForPluginsThatAsk(t *testing.T) {
	recs := []plugin.Record{{ID: "1", FQDN: "f.", Value: "v", Identifier: "d", Token: "t", KeyAuthorization: "t.k"}}
	if got := forPlugin(plugin.Capabilities{}, recs)[0]; got.Identifier != "" || got.Token != "" || got.KeyAuthorization != "" || got.Value != "v" {
		t.Fatalf("a plugin without challenge_details got %+v", got)
	}
	if got := forPlugin(plugin.Capabilities{ChallengeDetails: true}, recs)[0]; got.KeyAuthorization != "t.k" || got.Token != "t" || got.Identifier != "d" {
		t.Fatalf("a plugin with challenge_details got %+v", got)
	}
	if recs[0].Token != "t" {
		t.Fatal("forPlugin changed the caller's records")
	}
}
