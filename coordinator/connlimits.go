package coordinator

import (
	"fmt"
	"math"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Defaults of the limits on what callers may hold of a node (see
// Config.MaxConnectionsPerHost, MaxConcurrentStreams and MaxListBytes).
const (
	defaultMaxConnectionsPerHost = 256
	defaultMaxConcurrentStreams  = 100
	// defaultMaxListBytes: a list page fits in one of gRPC's pooled
	// buffers, and in a gRPC client's initial HTTP/2 stream window.
	defaultMaxListBytes = pooledAnswerMax
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

// validateConnLimits checks the limits on connections, calls and answers,
// and fills in their defaults. Negative values are errors.
func (c *Config) validateConnLimits() error {
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"max connections per host", &c.MaxConnectionsPerHost, defaultMaxConnectionsPerHost},
		{"max concurrent streams", &c.MaxConcurrentStreams, defaultMaxConcurrentStreams},
		{"max list bytes", &c.MaxListBytes, min(defaultMaxListBytes, c.MaxRequestBytes)},
	} {
		if *f.v < 0 {
			return fmt.Errorf("verdict: %s must not be negative (got %d)", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if uint64(c.MaxConcurrentStreams) > math.MaxUint32 {
		return fmt.Errorf("verdict: max concurrent streams %d exceeds %d", c.MaxConcurrentStreams, uint32(math.MaxUint32))
	}
	if c.MaxListBytes > c.MaxRequestBytes {
		return fmt.Errorf("verdict: max list bytes %d exceeds max request bytes %d, the largest message a node sends", c.MaxListBytes, c.MaxRequestBytes)
	}
	return nil
}

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
