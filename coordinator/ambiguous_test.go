package coordinator

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// TestCommitTimeoutOnLeaderIsNeverPresumedAborted: a COMMIT proposal that
// cannot be confirmed in time while the node stays leader (acknowledgements
// from followers are lost) must not be answered "aborted": the COMMIT may
// still apply. Until it is settled, Commit gives no outcome and Outcome says
// PENDING; once healed, every answer agrees with the log.
func TestCommitTimeoutOnLeaderIsNeverPresumedAborted(t *testing.T) {
	c := newCluster(t, 3)
	lead := c.leader()
	p1 := startParticipant(t, "p1", c.endpoints())
	p2 := startParticipant(t, "p2", c.endpoints())
	cl := dial(t, lead.Addr())
	ctx := context.Background()
	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*testParticipant{p1, p2} {
		if err := stage(tx.Context(ctx), p, tx.ID()); err != nil {
			t.Fatal(err)
		}
	}
	lid := lead.Node().ID()
	var drop atomic.Bool
	drop.Store(true)
	for _, s := range c.nodes {
		s.Node().SetFilter(func(m *raftpb.Message) bool {
			return !(drop.Load() && m.GetTo() == lid && m.GetType() == raftpb.MsgAppResp)
		})
	}
	raw := coordClient(t, lead.Addr())
	cctx, cancel := context.WithTimeout(ctx, engine.DecisionTimeout+2*time.Second)
	resp, err := raw.Commit(cctx, &verdictv1.CommitRequest{Txid: tx.ID()})
	cancel()
	if err == nil {
		t.Fatalf("Commit answered %v while its decision could not be confirmed", resp)
	}
	if _, ok := lead.Node().LeaderTerm(); !ok {
		t.Skip("the leader lost leadership: the scenario was not reached")
	}
	octx, cancel := context.WithTimeout(ctx, 2*time.Second)
	o, err := raw.Outcome(octx, &verdictv1.OutcomeRequest{Txid: tx.ID()})
	cancel()
	if err == nil && o.GetOutcome() != verdictv1.Outcome_OUTCOME_PENDING {
		t.Fatalf("Outcome while unsettled = %v, want PENDING (or no answer)", o)
	}

	drop.Store(false)
	var final *verdictv1.CommitResponse
	testwait.For(t, 20*time.Second, "a settled outcome", func() bool {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		final, err = raw.Commit(rctx, &verdictv1.CommitRequest{Txid: tx.ID()})
		return err == nil
	})
	rec, ok := lead.coord.Applied(tx.ID())
	if !ok || engine.OutcomeOf(rec.GetState()) != final.GetOutcome() {
		t.Fatalf("Commit answered %v, the log holds %v", final.GetOutcome(), rec)
	}
	want := participant.TxAborted
	if final.GetOutcome() == verdictv1.Outcome_OUTCOME_COMMITTED {
		want = participant.TxCommitted
	}
	waitState(t, tx.ID(), want, p1, p2)
	noViolations(t, p1, p2)
}
