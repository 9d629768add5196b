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
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// onePhaseTxs commits n single-participant transactions through p and
// returns their ids; each one is committed at p.
func onePhaseTxs(t *testing.T, c *testCluster, p *testParticipant, n int) []string {
	t.Helper()
	cl := dial(t, c.endpoints()...)
	ids := make([]string, n)
	for i := range ids {
		id, err := runTx(context.Background(), cl, p)
		if err != nil {
			t.Fatalf("one-phase commit %d: %v", i, err)
		}
		ids[i] = id
	}
	waitState(t, ids[n-1], participant.TxCommitted, p)
	return ids
}

// stopLeader stops the leader and returns a client of the next one.
func stopLeader(t *testing.T, c *testCluster) verdictv1.CoordinatorClient {
	t.Helper()
	old := c.leader()
	c.stop(old.Node().ID())
	testwait.For(t, 15*time.Second, "a new leader", func() bool {
		for _, s := range c.running() {
			if _, ok := s.Node().LeaderTerm(); ok {
				return true
			}
		}
		return false
	})
	return coordClient(t, c.leader().Addr())
}

// TestOnePhaseOutcomeSurvivesLeaderChange: one-phase commits log no COMMIT,
// but their outcome rides in a DONE record, so that after the leader that
// committed them is gone the next one answers COMMITTED, to a retried
// Commit and to Outcome alike, never "presumed aborted".
func TestOnePhaseOutcomeSurvivesLeaderChange(t *testing.T) {
	c := newCluster(t, 3)
	p := startParticipant(t, "p1", c.endpoints())
	ids := onePhaseTxs(t, c, p, 5)
	for _, id := range ids {
		testwait.For(t, 10*time.Second, "the one-phase record of "+id+" on every node", func() bool {
			for _, s := range c.running() {
				if _, ok := s.coord.Applied(id); !ok {
					return false
				}
			}
			return true
		})
	}
	raw := stopLeader(t, c)
	ref := []*verdictv1.ParticipantRef{{Name: p.name, Address: p.addr}}
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cr, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: id, Retry: true, Participants: ref})
		if err != nil || cr.GetOutcome() != verdictv1.Outcome_OUTCOME_COMMITTED {
			t.Errorf("retried Commit of one-phase %s at the new leader = %v, %v; want COMMITTED", id, cr, err)
		}
		or, err := raw.Outcome(ctx, &verdictv1.OutcomeRequest{Txid: id})
		if err != nil || or.GetOutcome() != verdictv1.Outcome_OUTCOME_COMMITTED {
			t.Errorf("Outcome of one-phase %s at the new leader = %v, %v; want COMMITTED", id, or, err)
		}
		cancel()
	}
}

// TestOnePhaseUnrecordedIsNeverAborted: a leader that dies between a
// one-phase commit and its record leaves a committed transaction no later
// leader finds. A retried Commit and an initiator's Outcome then hear
// UNKNOWN, never ABORTED; only those who cannot be misled (the prepared
// participant, a caller naming two participants, a first Commit attempt)
// hear presumed abort.
func TestOnePhaseUnrecordedIsNeverAborted(t *testing.T) {
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.knobs = &engine.TestingKnobs{ProposeDone: func(_ []string, ops []*logv1.OnePhase) bool { return len(ops) == 0 }}
	})
	p := startParticipant(t, "p1", c.endpoints())
	id := onePhaseTxs(t, c, p, 1)[0]
	raw := stopLeader(t, c)
	ref := &verdictv1.ParticipantRef{Name: p.name, Address: p.addr}
	for _, req := range []*verdictv1.CommitRequest{
		{Txid: id, Retry: true},
		{Txid: id, Retry: true, Participants: []*verdictv1.ParticipantRef{ref}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := raw.Commit(ctx, req)
		cancel()
		if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_UNKNOWN {
			t.Errorf("retried Commit %v of a committed, unrecorded one-phase transaction = %v, %v; want UNKNOWN", req, resp, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := raw.Outcome(ctx, &verdictv1.OutcomeRequest{Txid: id, Participants: []*verdictv1.ParticipantRef{ref}})
	if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_UNKNOWN {
		t.Errorf("Outcome of a committed, unrecorded one-phase transaction = %v, %v; want UNKNOWN", resp, err)
	}
	if st := p.res.State(id); st != participant.TxCommitted {
		t.Fatalf("participant state %v, want committed", st)
	}
	noViolations(t, p)
}

// TestDeposedLeaderSendsNoOnePhaseCommit: a leader cut off from its peers,
// that still believes it leads, must not commit a single participant in one
// phase: a newer leader may answer for the transaction meanwhile. It cannot
// confirm its leadership, so it sends no Commit and aborts.
func TestDeposedLeaderSendsNoOnePhaseCommit(t *testing.T) {
	c := newTunedCluster(t, 3, func(cfg *Config) { cfg.ElectionTicks = 50 })
	lead := c.leader()
	p := startParticipant(t, "p1", c.endpoints())
	raw := coordClient(t, lead.Addr())
	tx, err := dial(t, lead.Addr()).Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stage(tx.Context(context.Background()), p, tx.ID()); err != nil {
		t.Fatal(err)
	}
	id := lead.Node().ID()
	cut := func(m *raftpb.Message) bool { return m.GetFrom() != id && m.GetTo() != id }
	for _, s := range c.nodes {
		s.Node().SetFilter(cut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: tx.ID()})
	if st := p.res.State(tx.ID()); st == participant.TxCommitted {
		t.Fatalf("the cut-off leader committed the participant in one phase (Commit answered %v, %v)", resp, err)
	}
	if err == nil && resp.GetOutcome() == verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("the cut-off leader answered COMMITTED: %v", resp)
	}
	for _, s := range c.nodes {
		s.Node().SetFilter(nil)
	}
	// The abort the cut-off leader sends may be dropped when it notices it
	// was deposed; the participant's recovery then learns it (presumed
	// abort: no leader logged a commit).
	testwait.For(t, 20*time.Second, tx.ID()+" aborted at p1", func() bool {
		if p.res.State(tx.ID()) == participant.TxAborted {
			return true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.srv.Recover(ctx)
		return p.res.State(tx.ID()) == participant.TxAborted
	})
	noViolations(t, p)
}

// TestOnePhaseRecordSurvivesADroppedProposal: a DONE record carrying
// one-phase commits that raft drops while this node still leads (as it
// does during a leadership transfer) is proposed again, so that the log
// learns the commit and answers COMMITTED for it.
func TestOnePhaseRecordSurvivesADroppedProposal(t *testing.T) {
	var drops atomic.Int32
	c := newTunedCluster(t, 1, func(cfg *Config) {
		cfg.knobs = &engine.TestingKnobs{DropDone: func(_ []string, ops []*logv1.OnePhase) bool {
			return len(ops) > 0 && drops.Add(1) <= 3
		}}
	})
	p := startParticipant(t, "p1", c.endpoints())
	id := onePhaseTxs(t, c, p, 1)[0]
	lead := c.leader()
	testwait.For(t, 10*time.Second, "the one-phase commit recorded in the log", func() bool {
		_, ok := lead.coord.Applied(id)
		return ok
	})
	if n := drops.Load(); n < 4 {
		t.Errorf("%d DONE proposals with one-phase commits, want the 3 dropped and one more", n)
	}
	resp, err := coordClient(t, lead.Addr()).Outcome(context.Background(), &verdictv1.OutcomeRequest{Txid: id})
	if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Errorf("Outcome = %v, %v; want COMMITTED", resp, err)
	}
}
