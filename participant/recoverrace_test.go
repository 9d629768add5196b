package participant

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// The races between the recovery loop's question and a leader's Commit.
// The leader L1 commits the transaction in one phase and dies before
// recording it; the next leader, asked by the participant holding the
// work prepared, presumes it aborted (the stub answers ABORTED).

// TestRecoverSkipsCommittedMeanwhile: a Commit that lands between the
// listing of prepared transactions and the question commits, and recovery
// then leaves the transaction alone: it never aborts committed work.
func TestRecoverSkipsCommittedMeanwhile(t *testing.T) {
	id := newTxID(t)
	coord := &stubCoordinator{outcomes: map[string]verdictv1.Outcome{id: verdictv1.Outcome_OUTCOME_ABORTED}}
	res := preparedMem(t, id)
	srv, part := serveParticipant(t, res, startCoordinator(t, coord))
	ctx := testContext(t)
	srv.onListed = func([]string) {
		if _, err := part.Commit(ctx, decision(id)); err != nil {
			t.Errorf("Commit between listing and asking: %v", err)
		}
	}
	if err := srv.Recover(ctx); err != nil {
		t.Errorf("Recover: %v", err)
	}
	wantEnded(t, res, id, TxCommitted)
	if n := coord.askedCount(); n != 0 {
		t.Errorf("recovery asked %d times about a transaction committed here", n)
	}
}

// wantEnded checks that id is in state want, with no violation.
func wantEnded(t *testing.T, m *MemResource, id string, want TxState) {
	t.Helper()
	if got := m.State(id); got != want {
		t.Errorf("state = %v, want %v", got, want)
	}
	if v := m.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}

// blockingResource holds each Commit until release is closed.
type blockingResource struct {
	*MemResource
	entered chan struct{}
	release chan struct{}
}

func (r *blockingResource) Commit(ctx context.Context, id string) error {
	r.entered <- struct{}{}
	select {
	case <-r.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.MemResource.Commit(ctx, id)
}

// TestRecoverLeavesCommitInProgress: a transaction whose Commit is in
// progress is left to it; the next pass asks if it fails.
func TestRecoverLeavesCommitInProgress(t *testing.T) {
	id := newTxID(t)
	coord := &stubCoordinator{outcomes: map[string]verdictv1.Outcome{id: verdictv1.Outcome_OUTCOME_ABORTED}}
	res := &blockingResource{MemResource: preparedMem(t, id), entered: make(chan struct{}, 1), release: make(chan struct{})}
	srv, part := serveParticipant(t, res, startCoordinator(t, coord))
	ctx := testContext(t)
	errc := make(chan error, 1)
	go func() {
		_, err := part.Commit(ctx, decision(id))
		errc <- err
	}()
	select {
	case <-res.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the Commit did not reach the resource")
	}
	if err := srv.Recover(ctx); err != nil {
		t.Errorf("Recover: %v", err)
	}
	close(res.release)
	if err := <-errc; err != nil {
		t.Errorf("Commit: %v", err)
	}
	wantEnded(t, res.MemResource, id, TxCommitted)
	if n := coord.askedCount(); n != 0 {
		t.Errorf("recovery asked %d times about a transaction being committed", n)
	}
}

// TestRecoverHoldsCommitWhileAsking: while recovery asks the coordinator,
// the transaction refuses a Commit (FailedPrecondition; L1 then cannot
// learn an outcome and reports it ambiguous), so that the ABORTED answer
// is applied to work that is still prepared.
func TestRecoverHoldsCommitWhileAsking(t *testing.T) {
	id := newTxID(t)
	asking, answer := make(chan struct{}), make(chan struct{})
	var once sync.Once
	coord := &stubCoordinator{
		outcomes: map[string]verdictv1.Outcome{id: verdictv1.Outcome_OUTCOME_ABORTED},
		block: func(ctx context.Context, _ string) {
			once.Do(func() { close(asking) })
			select {
			case <-answer:
			case <-ctx.Done():
			}
		},
	}
	res := preparedMem(t, id)
	srv, part := serveParticipant(t, res, startCoordinator(t, coord))
	ctx := testContext(t)
	errc := make(chan error, 1)
	go func() { errc <- srv.Recover(ctx) }()
	select {
	case <-asking:
	case <-time.After(10 * time.Second):
		t.Fatal("recovery did not ask the coordinator")
	}
	_, err := part.Commit(ctx, decision(id))
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Commit while recovery asks: %v, want FailedPrecondition", err)
	}
	if got := res.State(id); got != TxPrepared {
		t.Errorf("state while recovery asks = %v, want prepared", got)
	}
	close(answer)
	if err := <-errc; err != nil {
		t.Errorf("Recover: %v", err)
	}
	wantEnded(t, res, id, TxAborted)
}
