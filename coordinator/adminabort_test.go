package coordinator

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// An operator aborts an active transaction and a preparing one (through a
// follower); a decided one is refused with FailedPrecondition, and bad
// input gets a clear status.
func TestAdminAbortTransaction(t *testing.T) {
	c := newCluster(t, 3)
	c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	adm := adminClient(t, c.follower().Addr())

	// ACTIVE: aborted at once, and the initiator's Commit learns it.
	active := beginStaged(t, cl, p1, p2)
	resp, err := adm.AbortTransaction(ctx, &verdictv1.AbortTransactionRequest{Txid: active.ID(), Reason: "client hung", Operator: "alice"})
	if err != nil {
		t.Fatalf("AbortTransaction(active): %v", err)
	}
	tx := resp.GetTransaction()
	if tx.GetState() != verdictv1.TxState_TX_STATE_ABORTED || !strings.Contains(tx.GetReason(), "alice from 127.0.0.1:") || !strings.Contains(tx.GetReason(), "client hung") {
		t.Errorf("aborted transaction = %v; want aborted, reason naming alice, her address and why", tx)
	}
	waitState(t, active.ID(), participant.TxAborted, p1, p2)
	if err := active.Commit(ctx); err == nil {
		t.Error("Commit after an operator's abort succeeded")
	}

	// PREPARING: p2's vote is held until the operator's abort is in.
	release := make(chan struct{})
	p2.res.SetVote(func(ctx context.Context, _ string) (participant.Vote, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return participant.VoteYes, nil
	})
	preparing := beginStaged(t, cl, p1, p2)
	committing := commitAsync(coordClient(t, c.leader().Addr()), preparing.ID())
	testwait.For(t, 10*time.Second, "the transaction preparing", func() bool {
		return p1.res.State(preparing.ID()) == participant.TxPrepared
	})
	aborted := make(chan error, 1)
	go func() {
		_, err := adm.AbortTransaction(ctx, &verdictv1.AbortTransactionRequest{Txid: preparing.ID(), Operator: "bob"})
		aborted <- err
	}()
	coords := coordClients(t)
	testwait.For(t, 10*time.Second, "the abort request in the timeline", func() bool {
		got, err := coords(c.leader().Addr()).GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: preparing.ID()})
		return err == nil && hasInOrder(timelineOf(got.GetTransaction()), []string{"prepare", "abort-requested"})
	})
	close(release)
	if err := <-aborted; err != nil {
		t.Fatalf("AbortTransaction(preparing): %v", err)
	}
	if r := <-committing; r.err != nil || r.resp.GetOutcome() != verdictv1.Outcome_OUTCOME_ABORTED {
		t.Errorf("Commit of the transaction aborted while preparing = %v, %v; want aborted", r.resp, r.err)
	}
	p2.res.SetVote(nil)

	committed, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		txid string
		code codes.Code
		msg  string
	}{
		{committed, codes.FailedPrecondition, "already committed"},
		{active.ID(), codes.FailedPrecondition, "already aborted"},
		{"not-a-txid", codes.InvalidArgument, "malformed"},
		{"01936b2a-0000-7000-8000-00000000beef", codes.NotFound, "not found"},
	} {
		_, err := adm.AbortTransaction(ctx, &verdictv1.AbortTransactionRequest{Txid: tt.txid})
		if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("AbortTransaction(%s) = %v; want %v containing %q", tt.txid, err, tt.code, tt.msg)
		}
	}
	noViolations(t, p1, p2)
}
