package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// A done transaction stays answerable for the retention window; after it,
// the leader prunes it and every question about it, or about any txid
// created before the window, answers EXPIRED, never a guess. A txid created
// within the window and unknown is still presumed aborted. This survives a
// restart of the whole cluster.
func TestRetentionExpires(t *testing.T) {
	const retention = 400 * time.Millisecond
	c := newTunedCluster(t, 3, func(cfg *Config) { cfg.Retention = retention })
	lead := c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()

	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, id, participant.TxCommitted, p1, p2)
	coord := coordClient(t, c.follower().Addr())
	outcome := func(txid string) verdictv1.Outcome {
		t.Helper()
		resp, err := coord.Outcome(ctx, &verdictv1.OutcomeRequest{Txid: txid, Prepared: true})
		if err != nil {
			t.Fatalf("Outcome(%s): %v", txid, err)
		}
		return resp.GetOutcome()
	}
	if o := outcome(id); o != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("Outcome within the window = %v, want COMMITTED", o)
	}
	waitFor(t, 10*time.Second, "the done transaction pruned on every node", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.nodes {
			if _, ok := s.coord.fsm.get(id); ok {
				return false
			}
		}
		return true
	})

	check := func() {
		t.Helper()
		if o := outcome(id); o != verdictv1.Outcome_OUTCOME_EXPIRED {
			t.Errorf("Outcome of a pruned transaction = %v, want EXPIRED", o)
		}
		resp, err := coord.Commit(ctx, &verdictv1.CommitRequest{Txid: id})
		if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_EXPIRED {
			t.Errorf("Commit of a pruned transaction = %v, %v; want EXPIRED", resp, err)
		}
		if o := outcome(txidAt(time.Now().Add(-time.Hour).UnixMilli(), 1)); o != verdictv1.Outcome_OUTCOME_EXPIRED {
			t.Errorf("Outcome of an unknown txid from before the window = %v, want EXPIRED", o)
		}
		if o := outcome(txidAt(time.Now().UnixMilli(), 2)); o != verdictv1.Outcome_OUTCOME_ABORTED {
			t.Errorf("Outcome of an unknown txid from within the window = %v, want ABORTED (presumed)", o)
		}
	}
	check()

	// The horizon is part of the replicated state: a restarted cluster
	// answers the same.
	c.stopAll()
	for id := range c.peers {
		c.start(id, nil)
	}
	lead = c.leader()
	coord = coordClient(t, lead.Addr())
	check()
}
