package coordinator

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// A leader whose WAL sync fails stops leading at once: the Commit whose
// COMMIT record could not be made durable answers Unavailable (outcome
// unknown) promptly instead of retrying the proposal in a loop, and every
// later call (Begin, Enlist, a one-phase Commit, Outcome) answers
// Unavailable at once; no participant is told to commit.
func TestSyncFailureStopsLeading(t *testing.T) {
	c := newCluster(t, 1)
	lead := c.leader()
	p1, p2, cl := c.withParticipants()
	cc := coordClient(t, lead.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	begin := func(parts ...*testParticipant) *client.Tx {
		t.Helper()
		tx, err := cl.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if err := stage(tx.Context(ctx), p, tx.ID()); err != nil {
				t.Fatal(err)
			}
		}
		return tx
	}
	twoPhase, onePhase := begin(p1, p2), begin(p1)

	lead.Node().FailSyncs(errors.New("injected fsync failure"))

	unavailable := func(what string, limit time.Duration, call func(context.Context) error) {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
		defer ccancel()
		start := time.Now()
		err := call(cctx)
		if d := time.Since(start); d > limit {
			t.Errorf("%s took %v after the sync failure, want under %v", what, d, limit)
		}
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s after the sync failure = %v, want Unavailable", what, err)
		}
	}
	commit := func(tx *client.Tx) func(context.Context) error {
		return func(cctx context.Context) error {
			req := &verdictv1.CommitRequest{Txid: tx.ID()}
			for _, p := range tx.Participants() {
				req.Participants = append(req.Participants, &verdictv1.ParticipantRef{Name: p.Name, Address: p.Address})
			}
			_, err := cc.Commit(cctx, req)
			return err
		}
	}
	unavailable("Commit (two-phase)", engine.DecisionTimeout, commit(twoPhase))
	select {
	case <-lead.Node().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("raft node still running after a sync failure")
	}
	if _, ok := lead.Node().LeaderTerm(); ok {
		t.Error("node still claims to lead after a sync failure")
	}
	const prompt = 2 * time.Second // less than leaderWait: no waiting for a leader
	unavailable("Commit (one-phase)", prompt, commit(onePhase))
	unavailable("Begin", prompt, func(cctx context.Context) error {
		_, err := cc.Begin(cctx, &verdictv1.BeginRequest{})
		return err
	})
	unavailable("Enlist", prompt, func(cctx context.Context) error {
		_, err := cc.Enlist(cctx, &verdictv1.EnlistRequest{
			Txids:       []string{onePhase.ID()},
			Participant: &verdictv1.ParticipantRef{Name: "p3", Address: "127.0.0.1:1"},
		})
		return err
	})
	unavailable("Outcome", prompt, func(cctx context.Context) error {
		_, err := cc.Outcome(cctx, &verdictv1.OutcomeRequest{Txid: twoPhase.ID()})
		return err
	})
	st, err := verdictv1.NewAdminClient(testConn(t, lead.Addr())).Status(ctx, &verdictv1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetLeaderReady() || st.GetLeader() == lead.Node().ID() {
		t.Errorf("Status after the sync failure: leader %d, ready %v; want no ready leader", st.GetLeader(), st.GetLeaderReady())
	}
	for _, p := range []*testParticipant{p1, p2} {
		for _, id := range []string{twoPhase.ID(), onePhase.ID()} {
			if s := p.res.State(id); s == participant.TxCommitted {
				t.Errorf("%s committed %s, whose decision was never durable", p.name, id)
			}
		}
	}
}
