// Package wire is the shared half of the plugin boundary: the go-plugin
// handshake, the plugin set and the gRPC adapters between the domain types
// in package plugin and the generated zonecert.provider.v1 code. Both the
// SDK (plugin side) and the host import it; nothing else should.
package wire

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/zonecert/zonecert/plugin"
	providerv1 "github.com/zonecert/zonecert/plugin/proto/provider/v1"
)

// PluginName is the key of the provider service in the go-plugin plugin set.
const PluginName = "provider"

// Handshake returns the fixed go-plugin handshake. The cookie is not a
// secret: it only stops a user from running a plugin binary by hand by
// mistake. The protocol version is negotiated from VersionedPlugins.
func Handshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		ProtocolVersion:  plugin.ProtocolVersion,
		MagicCookieKey:   "ZONECERT_PLUGIN_MAGIC_COOKIE",
		MagicCookieValue: "7f3c9a1e-zonecert-dns-provider-5b2d8e64",
	}
}

// HostPlugins is the versioned plugin set the host offers. A v2 adds an
// entry here; go-plugin picks the highest version both sides speak.
func HostPlugins() map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		1: {PluginName: &GRPCPlugin{}},
	}
}

// ServePlugins is the versioned plugin set a plugin process serves.
func ServePlugins(b Backend) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		1: {PluginName: &GRPCPlugin{Backend: b}},
	}
}

// GRPCPlugin binds the provider service to go-plugin (gRPC only).
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	// Backend is set on the plugin side only.
	Backend Backend
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the provider service on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	providerv1.RegisterProviderServer(s, NewServer(p.Backend))
	return nil
}

// GRPCClient returns a *Client on the host side.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewClient(c), nil
}
