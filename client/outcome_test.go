package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func outcomeAnswer(o verdictv1.Outcome) (*verdictv1.OutcomeResponse, error) {
	return &verdictv1.OutcomeResponse{Outcome: o}, nil
}

func TestOutcome(t *testing.T) {
	const id = "0198a8f0-0000-7000-8000-000000000000"
	for want, o := range map[Outcome]verdictv1.Outcome{
		OutcomeCommitted: verdictv1.Outcome_OUTCOME_COMMITTED,
		OutcomeAborted:   verdictv1.Outcome_OUTCOME_ABORTED,
		OutcomeExpired:   verdictv1.Outcome_OUTCOME_EXPIRED,
		OutcomeUnknown:   verdictv1.Outcome_OUTCOME_UNKNOWN,
	} {
		t.Run(want.String(), func(t *testing.T) {
			c, stub := newStubClient(t)
			stub.outcome = func(int) (*verdictv1.OutcomeResponse, error) { return outcomeAnswer(o) }
			got, err := c.Outcome(testContext(t), id)
			if err != nil || got != want {
				t.Errorf("Outcome = %v, %v; want %v", got, err, want)
			}
			stub.mu.Lock()
			defer stub.mu.Unlock()
			if len(stub.outcomes) != 1 || stub.outcomes[0].GetTxid() != id || stub.outcomes[0].GetPrepared() {
				t.Errorf("asked %v; want one question about %s, not as a prepared participant", stub.outcomes, id)
			}
		})
	}
}

// Outcome waits out a leader change (Unavailable) and a transaction still
// undecided (PENDING), and a Tx passes the participants it saw, which lets
// the leader presume abort for a transaction it does not know.
func TestTxOutcomeWaits(t *testing.T) {
	c, stub := newStubClient(t)
	stub.outcome = func(n int) (*verdictv1.OutcomeResponse, error) {
		switch {
		case n <= 5:
			return nil, status.Error(codes.Unavailable, "no leader")
		case n <= 10:
			return outcomeAnswer(verdictv1.Outcome_OUTCOME_PENDING)
		}
		return outcomeAnswer(verdictv1.Outcome_OUTCOME_ABORTED)
	}
	ctx := testContext(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx.addParticipant("orders=10.0.0.1:9000")
	tx.addParticipant("ledger=10.0.0.2:9000")
	if got, err := tx.Outcome(ctx); err != nil || got != OutcomeAborted {
		t.Fatalf("Outcome = %v, %v; want aborted", got, err)
	}
	stub.mu.Lock()
	defer stub.mu.Unlock()
	if len(stub.outcomes) != 11 {
		t.Errorf("asked %d times, want 11", len(stub.outcomes))
	}
	if last := stub.outcomes[len(stub.outcomes)-1]; last.GetTxid() != tx.ID() || len(last.GetParticipants()) != 2 {
		t.Errorf("asked %v; want %s with its 2 participants", last, tx.ID())
	}
}

func TestOutcomeGivesUp(t *testing.T) {
	c, stub := newStubClient(t)
	stub.outcome = func(int) (*verdictv1.OutcomeResponse, error) {
		return outcomeAnswer(verdictv1.Outcome_OUTCOME_PENDING)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if got, err := c.Outcome(ctx, "0198a8f0-0000-7000-8000-000000000000"); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Outcome of a transaction pending past ctx = %v, %v; want ctx's error", got, err)
	}

	stub.outcome = func(int) (*verdictv1.OutcomeResponse, error) {
		return nil, status.Error(codes.InvalidArgument, "malformed")
	}
	if _, err := c.Outcome(testContext(t), "0198a8f0-0000-7000-8000-000000000000"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("rejected Outcome: %v, want InvalidArgument", err)
	}
	if _, err := c.Outcome(testContext(t), "not-a-txid"); err == nil {
		t.Error("Outcome of a malformed txid succeeded")
	}
}
