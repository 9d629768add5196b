package participant

import (
	"context"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// ackingResource acknowledges every Commit, as a resource that answers a
// txid it no longer knows as committed already (idempotent style) would,
// and counts them.
type ackingResource struct {
	*MemResource
	commits atomic.Int32
}

func (r *ackingResource) Commit(ctx context.Context, id string) error {
	r.commits.Add(1)
	return nil
}

// TestCommitOfAbortedRefused: a Commit for a transaction aborted here (by
// the coordinator's Abort, or by recovery learning ABORTED) is refused
// with FailedPrecondition and never reaches the Resource, which might
// acknowledge it: a deposed leader's late one-phase Commit must not be
// acknowledged, or the initiator hears COMMITTED for work rolled back.
func TestCommitOfAbortedRefused(t *testing.T) {
	byAbort, byRecovery := newTxID(t), newTxID(t)
	coord := &stubCoordinator{outcomes: map[string]verdictv1.Outcome{byRecovery: verdictv1.Outcome_OUTCOME_ABORTED}}
	res := &ackingResource{MemResource: preparedMem(t, byAbort, byRecovery)}
	srv, part := serveParticipant(t, res, startCoordinator(t, coord))
	ctx := testContext(t)

	if _, err := part.Abort(ctx, decision(byAbort)); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := srv.Recover(ctx); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	for _, id := range []string{byAbort, byRecovery} {
		if got := res.State(id); got != TxAborted {
			t.Fatalf("state(%s) = %v, want aborted", id, got)
		}
		_, err := part.Commit(ctx, decision(id))
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("Commit of a transaction aborted here: %v, want FailedPrecondition", err)
		}
	}
	if n := res.commits.Load(); n != 0 {
		t.Errorf("Resource.Commit called %d times for aborted transactions, want 0", n)
	}
}
