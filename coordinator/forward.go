package coordinator

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/txlog"
)

// Metadata that forwarding uses.
const (
	// mdForwarded marks a request forwarded by a follower: it is never
	// forwarded again, so two nodes that disagree on the leader cannot loop.
	mdForwarded = "verdict-forwarded"
	// mdLeader is a response header naming the leader's client address; the
	// SDK sends its next calls there.
	mdLeader = "verdict-leader"
)

// leaderWait bounds how long a request waits for a leader to be elected (or
// for this node to finish its leader barrier) before answering Unavailable.
const leaderWait = 3 * time.Second

// forwarder routes client requests to the leader.
type forwarder struct {
	node *txlog.Node
	// leading is the coordinator's leaderTerm: this node serves a request
	// itself only once it is the leader and has handled its term's start.
	leading func() (uint64, bool)
	conns   *conns
	auth    *auth
}

func newForwarder(node *txlog.Node, leading func() (uint64, bool), dial []grpc.DialOption, a *auth) *forwarder {
	return &forwarder{node: node, leading: leading, conns: newConns(dial), auth: a}
}

// close closes the connections to other nodes.
func (f *forwarder) close() { f.conns.close() }

// route returns nil if this node should serve the request itself (leading
// says it does: f.leading, the ready leader, for most requests), or a
// connection to the leader.
func (f *forwarder) route(ctx context.Context, leading func() (uint64, bool)) (grpc.ClientConnInterface, error) {
	deadline := time.Now().Add(leaderWait)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		if _, ok := leading(); ok {
			return nil, nil
		}
		if err := f.node.Err(); err != nil {
			// The Raft loop stopped on a fatal error: this node leads
			// no more and learns of no leader; the process exits.
			return nil, status.Errorf(codes.Unavailable, "verdict: this node has stopped: %v", err)
		}
		lead, addr := f.node.Leader()
		if lead != 0 && lead != f.node.ID() && addr != "" {
			if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(mdForwarded)) > 0 {
				return nil, status.Errorf(codes.Unavailable, "verdict: this node is not the leader (leader is node %d at %s)", lead, addr)
			}
			return f.client(ctx, addr)
		}
		if time.Now().After(deadline) {
			return nil, status.Error(codes.Unavailable, "verdict: no leader elected; try again")
		}
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-time.After(wait):
		}
	}
}

func (f *forwarder) client(ctx context.Context, addr string) (grpc.ClientConnInterface, error) {
	conn, err := f.conns.get(addr)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "verdict: cannot reach leader at %s: %v", addr, err)
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(mdLeader, addr))
	return conn, nil
}

// forward serves a Coordinator request locally on the leader, or sends it
// to the leader.
func forward[Req, Resp any](
	ctx context.Context, f *forwarder, req Req,
	local func(context.Context, Req) (Resp, error),
	remote func(verdictv1.CoordinatorClient, context.Context, Req, ...grpc.CallOption) (Resp, error),
) (Resp, error) {
	return forwardTo(ctx, f, f.leading, req, local, verdictv1.NewCoordinatorClient, remote)
}

// forwardAdmin is forward for Admin requests that only the leader serves.
func forwardAdmin[Req, Resp any](
	ctx context.Context, f *forwarder, req Req,
	local func(context.Context, Req) (Resp, error),
	remote func(verdictv1.AdminClient, context.Context, Req, ...grpc.CallOption) (Resp, error),
) (Resp, error) {
	return forwardTo(ctx, f, f.leading, req, local, verdictv1.NewAdminClient, remote)
}

// forwardCluster is forwardAdmin for the requests that change the cluster
// itself (membership, leadership, divergence marks): the Raft leader
// serves them even while it serves no transactions because its state is
// marked diverged, since they are the way out of that.
func forwardCluster[Req, Resp any](
	ctx context.Context, f *forwarder, req Req,
	local func(context.Context, Req) (Resp, error),
	remote func(verdictv1.AdminClient, context.Context, Req, ...grpc.CallOption) (Resp, error),
) (Resp, error) {
	return forwardTo(ctx, f, f.node.LeaderTerm, req, local, verdictv1.NewAdminClient, remote)
}

func forwardTo[C, Req, Resp any](
	ctx context.Context, f *forwarder, leading func() (uint64, bool), req Req,
	local func(context.Context, Req) (Resp, error),
	newClient func(grpc.ClientConnInterface) C,
	remote func(C, context.Context, Req, ...grpc.CallOption) (Resp, error),
) (Resp, error) {
	conn, err := f.route(ctx, leading)
	if err != nil {
		var zero Resp
		return zero, err
	}
	if conn == nil {
		resp, err := local(ctx, req)
		return resp, toStatus(err)
	}
	return remote(newClient(conn), f.auth.forwardContext(ctx), req)
}
