package coordinator

import (
	"context"
	"fmt"
	"sync/atomic"

	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/txlog"
)

// health is a node's liveness and readiness, served by the standard gRPC
// health service (for the whole server, "", and for verdict.v1.Coordinator
// and verdict.v1.Admin) and by /healthz and /readyz on Config.MetricsAddr.
//
// Live: the node's Raft loop runs (it has not stopped on a fatal error).
//
// Ready: the node has applied its log, that is everything its group had
// committed at some moment after the node started (txlog's WaitCaughtUp):
// a leader once it has applied an entry of its own term (its barrier, which
// it needs before it answers anything anyway); a follower or learner once
// it has applied the commit index its leader reported for a read index
// asked after the start. So a restarted node is ready only once it has
// applied at least what it had committed before, and never serves an older
// state than the group had when it became ready; a node that reaches no
// leader (cut off from the quorum at start) is not ready.
//
// Once ready, a node stays ready until it stops or its Raft loop fails: an
// election later is the cluster's business, during which every follower
// forwards to the next leader. Marking every node unready in each election
// would only make load balancers drop them all at once.
type health struct {
	grpc  *grpchealth.Server
	node  *txlog.Node
	ready atomic.Bool
}

// healthServices are the names the gRPC health service answers for.
var healthServices = []string{"", verdictv1.Coordinator_ServiceDesc.ServiceName, verdictv1.Admin_ServiceDesc.ServiceName}

func newHealth(node *txlog.Node) *health {
	h := &health{grpc: grpchealth.NewServer(), node: node}
	h.set(false)
	return h
}

func (h *health) set(ready bool) {
	h.ready.Store(ready)
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ready {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, name := range healthServices {
		h.grpc.SetServingStatus(name, st)
	}
}

func (h *health) isReady() bool { return h.ready.Load() }

// stop answers NOT_SERVING from now on, to whoever asks until the end.
func (h *health) stop() { h.grpc.Shutdown() }

func (h *health) isLive() bool {
	select {
	case <-h.node.Done():
		return false
	default:
		return true
	}
}

// watchNode marks the node ready once it has caught up, and unready again
// if its Raft loop stops on a fatal error, which it reports through Done.
// It returns when the Raft node stops.
func (s *Server) watchNode() {
	ctx, cancel := context.WithCancel(s.ctx)
	caught := make(chan error, 1)
	go func() { caught <- s.node.WaitCaughtUp(ctx) }() // waited for below
	select {
	case err := <-caught:
		if err == nil {
			s.health.set(true)
			st := s.node.Status()
			s.log.Info("node ready: log applied", "applied", st.Applied, "commit", st.Commit, "leader", st.Leader)
		} // else stopped before it caught up
	case <-s.node.Done():
		cancel()
		<-caught
	}
	cancel()
	<-s.node.Done() // Stop stops it, if no fatal error did
	if err := s.node.Err(); err != nil {
		s.health.set(false)
		s.finish(fmt.Errorf("raft node stopped: %w", err))
	}
}
