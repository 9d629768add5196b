package coordinator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

func TestClusterCommit(t *testing.T) {
	c := newCluster(t, 3)
	c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()

	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	waitState(t, id, participant.TxCommitted, p1, p2)
	for _, p := range []*testParticipant{p1, p2} {
		if v, ok := p.res.Get("k-" + id); !ok || v != id {
			t.Errorf("%s: committed value = %q, %v; want %q", p.name, v, ok, id)
		}
	}
	resp, err := coordClient(t, c.leader().Addr()).Outcome(ctx, &verdictv1.OutcomeRequest{Txid: id})
	if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("Outcome = %v, %v; want COMMITTED", resp, err)
	}
	// Phase 2 completes and DONE is recorded.
	testwait.For(t, 5*time.Second, "DONE recorded", func() bool {
		tx, ok := c.leader().coord.Applied(id)
		return ok && tx.GetDone()
	})
	noViolations(t, p1, p2)
}

func TestClusterAbortOnNoVote(t *testing.T) {
	c := newCluster(t, 3)
	c.leader()
	p1 := startParticipant(t, "p1", c.endpoints())
	p2 := startParticipant(t, "p2", c.endpoints())
	p2.res.SetVote(func(ctx context.Context, txid string) (participant.Vote, error) {
		return participant.VoteNo, nil
	})
	cl := dial(t, c.endpoints()...)

	id, err := runTx(context.Background(), cl, p1, p2)
	var ab *client.AbortedError
	if !errors.As(err, &ab) || !errors.Is(err, client.ErrAborted) {
		t.Fatalf("commit error = %v, want an AbortedError", err)
	}
	if !strings.Contains(ab.Reason, "p2") || !strings.Contains(ab.Reason, "voted no") {
		t.Errorf("abort reason = %q, want it to name p2's no vote", ab.Reason)
	}
	waitState(t, id, participant.TxAborted, p1, p2)
	noViolations(t, p1, p2)
}

func TestClusterAbortOnDeadline(t *testing.T) {
	c := newCluster(t, 3)
	c.leader()
	p1 := startParticipant(t, "p1", c.endpoints())
	p2 := startParticipant(t, "p2", c.endpoints())
	// p2 never answers Prepare: it waits until the coordinator gives up.
	p2.res.SetVote(func(ctx context.Context, txid string) (participant.Vote, error) {
		<-ctx.Done()
		return participant.VoteNo, ctx.Err()
	})
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()
	tx, err := cl.Begin(ctx, client.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*testParticipant{p1, p2} {
		if err := stage(tx.Context(ctx), p, tx.ID()); err != nil {
			t.Fatal(err)
		}
	}
	err = tx.Commit(ctx)
	var ab *client.AbortedError
	if !errors.As(err, &ab) {
		t.Fatalf("commit error = %v, want an AbortedError", err)
	}
	// Either side may notice the deadline first: the coordinator ("did not
	// vote before the deadline") or p2, whose Prepare call carries the same
	// deadline and answers no with it.
	if !strings.Contains(ab.Reason, "did not vote before the deadline") && !strings.Contains(ab.Reason, "p2 voted no: context deadline exceeded") {
		t.Errorf("abort reason = %q, want a missed deadline", ab.Reason)
	}
	waitState(t, tx.ID(), participant.TxAborted, p1)
	noViolations(t, p1, p2)
}

func TestClusterUnfinishedTransactionAbortsAtDeadline(t *testing.T) {
	c := newCluster(t, 1)
	c.leader()
	p1 := startParticipant(t, "p1", c.endpoints())
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()
	tx, err := cl.Begin(ctx, client.WithTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := stage(tx.Context(ctx), p1, tx.ID()); err != nil {
		t.Fatal(err)
	}
	// The initiator never commits: the coordinator aborts at the deadline
	// and tells the enlisted participant.
	waitState(t, tx.ID(), participant.TxAborted, p1)
	if err := tx.Commit(ctx); !errors.Is(err, client.ErrAborted) {
		t.Fatalf("late commit = %v, want aborted", err)
	}
}

func TestClusterRetriedCommitReturnsRecordedOutcome(t *testing.T) {
	c := newCluster(t, 3)
	lead := c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	raw := coordClient(t, lead.Addr())

	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		resp, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: id})
		if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_COMMITTED {
			t.Fatalf("retried Commit #%d = %v, %v; want COMMITTED", i, resp, err)
		}
	}

	p2.res.SetVote(func(context.Context, string) (participant.Vote, error) { return participant.VoteNo, nil })
	id, err = runTx(ctx, cl, p1, p2)
	if !errors.Is(err, client.ErrAborted) {
		t.Fatalf("commit = %v, want aborted", err)
	}
	resp, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: id})
	if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_ABORTED || !strings.Contains(resp.GetReason(), "voted no") {
		t.Fatalf("retried Commit of aborted = %v, %v; want ABORTED with the reason", resp, err)
	}
}

func TestClusterFollowerForwards(t *testing.T) {
	c := newCluster(t, 3)
	f := c.follower()
	p1 := startParticipant(t, "p1", []string{f.Addr()})
	p2 := startParticipant(t, "p2", []string{f.Addr()})
	// The client knows only a follower; so do the participants.
	cl := dial(t, f.Addr())
	id, err := runTx(context.Background(), cl, p1, p2)
	if err != nil {
		t.Fatalf("commit through a follower: %v", err)
	}
	waitState(t, id, participant.TxCommitted, p1, p2)
	resp, err := coordClient(t, f.Addr()).Outcome(context.Background(), &verdictv1.OutcomeRequest{Txid: id})
	if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("Outcome via follower = %v, %v", resp, err)
	}
}

func stage(ctx context.Context, p *testParticipant, id string) error {
	return worksvc.Stage(ctx, p.conn, "k-"+id)
}
