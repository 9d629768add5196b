package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/participant"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

// TestClientBeginFindsNewLeader stops the leader of a 3-node cluster and
// begins a transaction at once: Begin waits out the election (slowed down
// here, so that it outlasts the connection's own attempts at every node)
// and the transaction commits under the new leader.
func TestClientBeginFindsNewLeader(t *testing.T) {
	c := newTunedCluster(t, 3, func(cfg *Config) { cfg.ElectionTicks = 40 })
	old := c.leader()
	p1, p2, cl := c.withParticipants()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := runTx(ctx, cl, p1, p2); err != nil {
		t.Fatal(err)
	}

	c.stop(old.Node().ID())
	start := time.Now()
	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatalf("Begin %v after the leader stopped: %v", time.Since(start).Round(time.Millisecond), err)
	}
	t.Logf("Begin answered %v after the leader stopped", time.Since(start).Round(time.Millisecond))
	for _, p := range []*testParticipant{p1, p2} {
		if err := worksvc.Stage(tx.Context(ctx), p.conn, "k-"+tx.ID()); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit under the new leader: %v", err)
	}
	waitState(t, tx.ID(), participant.TxCommitted, p1, p2)
}

// TestClientOutcomeFollowsLeader asks the outcome of transactions across a
// leader change: a committed one answers committed; one the old leader
// held active, asked with its two participants, answers aborted (no
// one-phase commit can have happened).
func TestClientOutcomeFollowsLeader(t *testing.T) {
	c := newCluster(t, 3)
	old := c.leader()
	p1, p2, cl := c.withParticipants()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	committed, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	open, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*testParticipant{p1, p2} {
		if err := worksvc.Stage(open.Context(ctx), p.conn, "k-"+open.ID()); err != nil {
			t.Fatal(err)
		}
	}

	c.stop(old.Node().ID())
	if o, err := cl.Outcome(ctx, committed); err != nil || o != client.OutcomeCommitted {
		t.Errorf("Outcome of a committed transaction after the leader stopped = %v, %v; want committed", o, err)
	}
	if o, err := open.Outcome(ctx); err != nil || o != client.OutcomeAborted {
		t.Errorf("Outcome of a transaction the old leader held active = %v, %v; want aborted", o, err)
	}
}
