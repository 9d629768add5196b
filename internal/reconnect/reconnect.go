// Package reconnect is the reconnect policy of every gRPC connection Verdict
// dials: a coordinator's to its participants, to its peers and to the
// leader it forwards to, and the SDKs' to the coordinators.
//
// gRPC's default backoff between connection attempts starts at 1 s and
// grows to 2 minutes, so a server back from a long outage is refused for
// up to two more minutes by a connection that saw the outage. Here the
// backoff starts at 50 ms and is capped at MaxBackoff: a server that
// listens again is reached within about MaxBackoff (plus jitter), however
// long it was gone. The cost is at most a few connection attempts per
// second to a server that stays down.
package reconnect

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// MaxBackoff caps the wait between two connection attempts.
const MaxBackoff = 500 * time.Millisecond

// Params are the connection parameters: the backoff, and a connection
// attempt (TCP, TLS handshake, HTTP/2 preface) given at least 2 s, so that
// a host that drops packets (rather than refusing) is tried afresh every
// 2.5 s at most.
var Params = grpc.ConnectParams{
	Backoff: backoff.Config{
		BaseDelay:  50 * time.Millisecond,
		Multiplier: 1.6,
		Jitter:     0.2,
		MaxDelay:   MaxBackoff,
	},
	MinConnectTimeout: 2 * time.Second,
}

// DialOptions returns Params as a dial option before opts, so that a
// WithConnectParams among opts wins.
func DialOptions(opts []grpc.DialOption) []grpc.DialOption {
	return append([]grpc.DialOption{grpc.WithConnectParams(Params)}, opts...)
}
