package coordinator

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Keepalive: what the node asks of its callers' pings, and how it finds
// connections whose far end has gone or stopped reading.
const (
	// minPingInterval is the shortest interval between a caller's pings;
	// a caller that pings more often is sent GOAWAY (too_many_pings) and
	// disconnected. Pings are allowed on connections without calls.
	minPingInterval = 10 * time.Second
	// pingIdleAfter: the node pings a connection it has read nothing
	// from for this long, and closes it if the ping is not answered within
	// pingTimeout. A caller that stops reading its connection altogether
	// (so that the node's answers to it pile up) is dropped this way.
	pingIdleAfter = time.Minute
	pingTimeout   = 20 * time.Second
	// maxConnIdle: a connection without calls for this long is closed
	// (GOAWAY; gRPC clients reconnect when they next call), freeing its
	// place under MaxConnectionsPerHost.
	maxConnIdle = 15 * time.Minute
)

// connOptions are the gRPC server options that bound what callers hold of
// the node: calls per connection, the size of messages and of the buffers
// answers take, and keepalive.
func connOptions(cfg *Config) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRequestBytes),
		grpc.MaxSendMsgSize(cfg.MaxRequestBytes),
		grpc.MaxConcurrentStreams(uint32(cfg.MaxConcurrentStreams)),
		grpc.ForceServerCodecV2(newAnswerCodec()),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             minPingInterval,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: maxConnIdle,
			Time:              pingIdleAfter,
			Timeout:           pingTimeout,
		}),
	}
}
