package coordinator

import (
	"context"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func TestOutcomeAnswers(t *testing.T) {
	c := newCluster(t, 3)
	lead := c.leader()
	raw := coordClient(t, lead.Addr())
	viaFollower := coordClient(t, c.follower().Addr())
	ctx := context.Background()

	b, err := raw.Begin(ctx, &verdictv1.BeginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	unknown, _ := txid.New()
	for _, cl := range []verdictv1.CoordinatorClient{raw, viaFollower} {
		resp, err := cl.Outcome(ctx, &verdictv1.OutcomeRequest{Txid: b.GetTxid()})
		if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_PENDING {
			t.Errorf("Outcome(active) = %v, %v; want PENDING", resp, err)
		}
		// Unknown: presumed aborted only for an asker that cannot be
		// misled (unknown.go); anyone else hears UNKNOWN, never a guess.
		two := []*verdictv1.ParticipantRef{{Name: "a", Address: "127.0.0.1:1"}, {Name: "b", Address: "127.0.0.1:2"}}
		for _, c := range []struct {
			what string
			req  *verdictv1.OutcomeRequest
			want verdictv1.Outcome
		}{
			{"a prepared participant", &verdictv1.OutcomeRequest{Txid: unknown, Prepared: true}, verdictv1.Outcome_OUTCOME_ABORTED},
			{"two participants named", &verdictv1.OutcomeRequest{Txid: unknown, Participants: two}, verdictv1.Outcome_OUTCOME_ABORTED},
			{"one participant named", &verdictv1.OutcomeRequest{Txid: unknown, Participants: two[:1]}, verdictv1.Outcome_OUTCOME_UNKNOWN},
			{"one participant named twice", &verdictv1.OutcomeRequest{Txid: unknown, Participants: []*verdictv1.ParticipantRef{two[0], two[0]}}, verdictv1.Outcome_OUTCOME_UNKNOWN},
			{"nobody named", &verdictv1.OutcomeRequest{Txid: unknown}, verdictv1.Outcome_OUTCOME_UNKNOWN},
		} {
			resp, err = cl.Outcome(ctx, c.req)
			if err != nil || resp.GetOutcome() != c.want {
				t.Errorf("Outcome(unknown) asked by %s = %v, %v; want %v", c.what, resp, err, c.want)
			}
		}
	}
}

// TestIsolatedLeaderNeverPresumesAbort cuts the leader off from its peers. A
// newer leader may hold any transaction as active, so the old leader must not
// answer "unknown ⇒ aborted": it fails instead.
func TestIsolatedLeaderNeverPresumesAbort(t *testing.T) {
	c := newCluster(t, 3)
	lead := c.leader()
	raw := coordClient(t, lead.Addr())
	id := lead.Node().ID()
	cut := func(m *raftpb.Message) bool { return m.GetFrom() != id && m.GetTo() != id }
	for _, s := range c.nodes {
		s.Node().SetFilter(cut)
	}
	unknown, _ := txid.New()
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		resp, err := raw.Outcome(ctx, &verdictv1.OutcomeRequest{Txid: unknown, Prepared: true})
		cancel()
		if err == nil {
			t.Fatalf("isolated leader answered Outcome(unknown) = %v; want an error", resp)
		}
	}
	for _, s := range c.nodes {
		s.Node().SetFilter(nil)
	}
	// Healed: the cluster answers again.
	coords := coordClients(t)
	testwait.For(t, 10*time.Second, "Outcome after healing", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := coords(c.leader().Addr()).Outcome(ctx, &verdictv1.OutcomeRequest{Txid: unknown, Prepared: true})
		return err == nil && resp.GetOutcome() == verdictv1.Outcome_OUTCOME_ABORTED
	})
}

// TestDeposedLeaderNeverPresumesAbortOnCommit: a leader cut off from its
// peers, that may still believe it leads, is asked to Commit a transaction
// begun at the new leader. It must not answer "aborted" from its own stale
// memory (the new leader holds the transaction as active).
func TestDeposedLeaderNeverPresumesAbortOnCommit(t *testing.T) {
	c := newTunedCluster(t, 3, func(cfg *Config) { cfg.ElectionTicks = 100 })
	lead := c.leader()
	old := coordClient(t, lead.Addr())
	id := lead.Node().ID()
	cut := func(m *raftpb.Message) bool { return m.GetFrom() != id && m.GetTo() != id }
	for _, s := range c.nodes {
		s.Node().SetFilter(cut)
	}
	var newLead *Server
	testwait.For(t, 15*time.Second, "a new leader among the others", func() bool {
		for _, s := range c.nodes {
			if _, ok := s.Node().LeaderTerm(); ok && s != lead {
				newLead = s
				return true
			}
		}
		return false
	})
	b, err := coordClient(t, newLead.Addr()).Begin(context.Background(), &verdictv1.BeginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := old.Commit(ctx, &verdictv1.CommitRequest{Txid: b.GetTxid()})
	if err == nil && resp.GetOutcome() == verdictv1.Outcome_OUTCOME_ABORTED {
		t.Fatalf("the cut-off node answered ABORTED for a transaction active at the new leader: %v", resp)
	}
}
