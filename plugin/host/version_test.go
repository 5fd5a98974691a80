package host

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/zonecert/zonecert/plugin/internal/wire"
)

// v2OnlyName is the plugin name under which the test binary acts as a
// plugin that speaks only a future protocol version 2.
const v2OnlyName = "v2only"

// serveV2Only is that plugin: it describes itself as v2 and offers only v2
// in the go-plugin negotiation, as a plugin built on a later SDK would.
func serveV2Only() {
	if len(os.Args) > 1 && os.Args[1] == "describe" {
		_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"name": v2OnlyName, "version": "test", "protocol_version": 2})
		return
	}
	hs := wire.Handshake()
	hs.ProtocolVersion = 2
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: map[int]goplugin.PluginSet{2: {wire.PluginName: &wire.GRPCPlugin{}}},
		GRPCServer:       goplugin.DefaultGRPCServer,
	})
}

func TestProtocolVersionMismatch(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), BinaryPrefix+v2OnlyName)
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	c, err := Start(t.Context(), Config{Name: v2OnlyName, Path: bin})
	if err == nil {
		c.Close()
		t.Fatal("a v2-only plugin was accepted by a v1 host")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "protocol version") || !strings.Contains(err.Error(), bin) {
		t.Fatalf("error does not name the binary and the protocol version: %v", err)
	}
}
