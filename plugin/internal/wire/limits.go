package wire

import "google.golang.org/grpc"

// MaxMessageSize bounds every message the host receives from a plugin
// (go-plugin itself allows 2 GiB): a reply of thousands of records fits,
// a runaway plugin cannot make the host allocate without end.
const MaxMessageSize = 4 << 20

// MaxStateSize bounds the cleanup state a plugin returns for one record
// (Result.State). The host journals it with every present record; a
// larger state is refused with an error naming the plugin.
const MaxStateSize = 4 << 10

// HostDialOptions are the gRPC options of the host's connection to a
// plugin; go-plugin applies them after its own, so these win.
func HostDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize))}
}
