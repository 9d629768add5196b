package participant

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/verdict-tx/verdict/internal/testwait"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// heldPrepareResource votes YES on Prepare once release is closed, counting
// the Prepares in progress.
type heldPrepareResource struct {
	*MemResource
	release chan struct{}
	active  atomic.Int32
}

func (r *heldPrepareResource) Prepare(ctx context.Context, id string) (Vote, error) {
	r.active.Add(1)
	defer r.active.Add(-1)
	select {
	case <-r.release:
	case <-ctx.Done():
		return VoteNo, ctx.Err()
	}
	return VoteYes, nil
}

// TestPrepareBatchBoundsGoroutines sends a batch of 1000 transactions whose
// Prepare blocks: while they block, the Server runs no more than
// Config.MaxConcurrentPrepares of them at once, and once released every
// one votes.
func TestPrepareBatchBoundsGoroutines(t *testing.T) {
	const n, limit = 1000, 8
	res := &heldPrepareResource{MemResource: NewMemResource(), release: make(chan struct{})}
	srv, err := NewServer(Config{Name: "inventory", Address: "10.0.0.1:9000", Resource: res, MaxConcurrentPrepares: limit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	part := verdictv1.NewParticipantClient(dial(t, serve(t, func(g *grpc.Server) { srv.Register(g) })))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newTxID(t)
	}
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type result struct {
		resp *verdictv1.PrepareResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := part.Prepare(ctx, &verdictv1.PrepareRequest{Txids: ids})
		done <- result{resp, err}
	}()
	testwait.For(t, 30*time.Second, "prepares to block", func() bool { return res.active.Load() >= limit })
	// A moment for any goroutines beyond the limit to start.
	time.Sleep(100 * time.Millisecond)
	if got := runtime.NumGoroutine() - base; got > limit+32 {
		t.Errorf("%d goroutines more while %d prepares block, want at most %d", got, n, limit+32)
	}
	if a := res.active.Load(); a > limit {
		t.Errorf("%d prepares at once, want at most %d", a, limit)
	}
	close(res.release)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.resp.GetVotes()) != n {
		t.Fatalf("got %d votes, want %d", len(r.resp.GetVotes()), n)
	}
	for i, v := range r.resp.GetVotes() {
		if v.GetVote() != verdictv1.Vote_VOTE_YES {
			t.Fatalf("vote %d = %v, want YES", i, v)
		}
	}
}
