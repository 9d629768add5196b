package client

import (
	"context"
	"fmt"

	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Outcome is what the coordinator knows of a transaction's outcome
// (Client.Outcome).
type Outcome int

const (
	// OutcomeCommitted: the transaction committed; every participant
	// applies its work.
	OutcomeCommitted Outcome = iota + 1
	// OutcomeAborted: the transaction aborted, or the coordinator presumes
	// it aborted (it does not know it and no commit can have happened); no
	// participant applies its work.
	OutcomeAborted
	// OutcomeExpired: the transaction was decided longer ago than the
	// coordinator's retention window, and its outcome is no longer kept.
	// The participants' data tells.
	OutcomeExpired
	// OutcomeUnknown: the coordinator cannot know the outcome. The
	// transaction had a single participant, and a leader that has since
	// lost office may have committed it in one phase (which logs
	// nothing). It is final: asking again gives the same answer. The
	// participant holds the truth.
	OutcomeUnknown
)

func (o Outcome) String() string {
	switch o {
	case OutcomeCommitted:
		return "committed"
	case OutcomeAborted:
		return "aborted"
	case OutcomeExpired:
		return "expired"
	case OutcomeUnknown:
		return "unknown"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Outcome asks the coordinator cluster what became of transaction id, for
// instance after Commit returned an *AmbiguousError. It follows the leader
// and waits out a leader change (Unavailable) and a transaction still
// undecided (PENDING) for as long as ctx lasts; give ctx a deadline. When
// ctx ends first, the error wraps ctx's error.
//
// participants are those the caller knows took part in the transaction
// (AmbiguousError.Participants, Tx.Participants). With two or more, a
// leader that does not know the transaction can answer OutcomeAborted
// (presumed abort: no one-phase commit can have happened); with fewer it
// answers OutcomeUnknown.
func (c *Client) Outcome(ctx context.Context, id string, participants ...Participant) (Outcome, error) {
	if err := txid.Validate(id); err != nil {
		return 0, fmt.Errorf("verdict: outcome: %w", err)
	}
	req := &verdictv1.OutcomeRequest{Txid: id, Participants: participantRefs(participants)}
	var got Outcome
	exhausted, err := retry(ctx, func() error {
		resp, err := c.coord.Outcome(ctx, req)
		if err != nil {
			return err
		}
		switch o := resp.GetOutcome(); o {
		case verdictv1.Outcome_OUTCOME_COMMITTED:
			got = OutcomeCommitted
		case verdictv1.Outcome_OUTCOME_ABORTED:
			got = OutcomeAborted
		case verdictv1.Outcome_OUTCOME_EXPIRED:
			got = OutcomeExpired
		case verdictv1.Outcome_OUTCOME_UNKNOWN:
			got = OutcomeUnknown
		default: // PENDING: not decided yet, ask again
			return fmt.Errorf("verdict: the coordinator answered %v (%s)", o, resp.GetReason())
		}
		return nil
	})
	switch {
	case exhausted:
		return 0, fmt.Errorf("verdict: outcome of %s: %w (last error: %w)", id, ctx.Err(), err)
	case err != nil:
		return 0, fmt.Errorf("verdict: outcome of %s: %w", id, err)
	}
	return got, nil
}

// Outcome is Client.Outcome for this transaction, with the participants it
// has seen enlist.
func (tx *Tx) Outcome(ctx context.Context) (Outcome, error) {
	return tx.c.Outcome(ctx, tx.id, tx.Participants()...)
}
