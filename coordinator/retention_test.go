package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/internal/testwait"
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
	testwait.For(t, 10*time.Second, "the done transaction pruned on every node", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.nodes {
			if _, ok := s.coord.Applied(id); ok {
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

// A leader whose clock runs a year ahead neither prunes at once what the
// log's time says is recent, nor poisons the retention horizon: after
// leadership moves back to a node with a right clock, a fresh unknown txid
// is presumed aborted, not EXPIRED, and pruning goes on.
func TestRetentionLeaderClockAhead(t *testing.T) {
	const retention = 6 * time.Second
	clocks := map[uint64]*offsetClock{1: newOffsetClock(), 2: newOffsetClock(), 3: newOffsetClock()}
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.Retention = retention
		cfg.Clock = clocks[cfg.ID]
	})
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	right := c.leader()
	ahead := c.follower()
	clocks[ahead.Node().ID()].advance(365 * 24 * time.Hour)

	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, id, participant.TxCommitted, p1, p2)
	testwait.For(t, 10*time.Second, "the transaction done on every node", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.nodes {
			if tx, ok := s.coord.Applied(id); !ok || !tx.GetDone() {
				return false
			}
		}
		return true
	})

	transfer := func(to *Server) {
		t.Helper()
		if _, err := adminClient(t, to.Addr()).TransferLeadership(callCtx(t), &verdictv1.TransferLeadershipRequest{Id: to.Node().ID()}); err != nil {
			t.Fatalf("transfer to node %d: %v", to.Node().ID(), err)
		}
		testwait.For(t, 10*time.Second, "the transferee ready", func() bool { return c.leader() == to })
	}
	coords := coordClients(t)
	outcome := func(at *Server, txid string) verdictv1.Outcome {
		t.Helper()
		resp, err := coords(at.Addr()).Outcome(ctx, &verdictv1.OutcomeRequest{Txid: txid, Prepared: true})
		if err != nil {
			t.Fatalf("Outcome(%s): %v", txid, err)
		}
		return resp.GetOutcome()
	}

	// The leader with the clock ahead proposes a Prune every 600ms; for
	// the next 2s (much less than the retention) the done transaction
	// stays answerable and a fresh txid is presumed aborted.
	transfer(ahead)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if o := outcome(ahead, id); o != verdictv1.Outcome_OUTCOME_COMMITTED {
			t.Errorf("Outcome of a transaction done moments ago, under the leader whose clock is ahead = %v, want COMMITTED", o)
			break
		}
	}
	if o := outcome(ahead, txidAt(time.Now().UnixMilli(), 1)); o != verdictv1.Outcome_OUTCOME_ABORTED {
		t.Errorf("Outcome of a fresh unknown txid under the leader whose clock is ahead = %v, want ABORTED", o)
	}

	transfer(right)
	if o := outcome(right, txidAt(time.Now().UnixMilli(), 2)); o != verdictv1.Outcome_OUTCOME_ABORTED {
		t.Errorf("Outcome of a fresh unknown txid after the leader with a right clock took over = %v, want ABORTED", o)
	}
	// Pruning goes on by the log's time: the transaction expires after
	// the retention, and the horizon is its creation time.
	testwait.For(t, 30*time.Second, "the done transaction pruned", func() bool {
		return outcome(right, id) == verdictv1.Outcome_OUTCOME_EXPIRED
	})
	if o := outcome(right, txidAt(time.Now().Add(-time.Hour).UnixMilli(), 3)); o != verdictv1.Outcome_OUTCOME_EXPIRED {
		t.Errorf("Outcome of an unknown txid from an hour ago = %v, want EXPIRED", o)
	}
	if o := outcome(right, txidAt(time.Now().UnixMilli(), 4)); o != verdictv1.Outcome_OUTCOME_ABORTED {
		t.Errorf("Outcome of a fresh unknown txid after pruning = %v, want ABORTED", o)
	}
}
