package engine

import (
	"context"
	"errors"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// What a leader answers for a transaction it finds nowhere (not in its log,
// not active, no recent outcome, not expired).
//
// Presumed abort says "aborted", and for a transaction of two or more
// participants that is the truth: the new leader's log holds every COMMIT a
// previous leader may have acted on. A transaction of a single participant
// is different: the leader commits it in one phase, telling the participant
// to commit without logging anything first, and records the outcome only
// lazily, with its next DONE batch (Done.one_phase). A leader that dies
// between the participant's acknowledgement and that record leaves a
// committed transaction that no later leader can find. So "aborted" is
// answered for an unknown transaction only when no one-phase commit can
// have happened, or when the answer cannot mislead:
//
//   - A first Commit attempt (CommitRequest.retry unset): no earlier attempt
//     reached any leader, so no leader can have committed it. Aborting it
//     is the decision, not a guess.
//   - A caller that names two or more participants of the transaction
//     (Commit's or Outcome's participants): the leader that handled it took
//     the union with those, so it had two or more, and one-phase commit
//     needs exactly one.
//   - The participant itself, holding the work prepared (Outcome's
//     prepared): it has not committed that work, and once it rolls back on
//     this answer it refuses a late one-phase Commit from a deposed leader
//     (which then cannot learn an outcome and answers "ambiguous").
//
// Anyone else (a retried Commit, an initiator's or operator's Outcome naming
// fewer than two participants) is answered OUTCOME_UNKNOWN: final, never a
// guess, and the participant holds the truth. A leader narrows the window in
// which this can happen by confirming its leadership (a ReadIndex) before it
// sends a one-phase Commit: a deposed leader that has not noticed yet cannot
// confirm, and sends nothing.

// reasonOnePhaseUnknown is the reason given with OUTCOME_UNKNOWN.
const reasonOnePhaseUnknown = "not in the leader's log: aborted, or committed in one phase by an earlier leader that lost office before recording it; its participant knows"

// presumable reports whether an unknown transaction may be answered
// "aborted" to a caller that names parts and, for Commit, says whether an
// earlier attempt was made (retry) or, for Outcome, that it holds the work
// prepared.
func presumable(retry, prepared bool, parts []*verdictv1.ParticipantRef) bool {
	return !retry || prepared || distinctNames(parts) >= 2
}

// distinctNames counts the distinct non-empty participant names of parts,
// stopping at two.
func distinctNames(parts []*verdictv1.ParticipantRef) int {
	first := ""
	for _, p := range parts {
		switch n := p.GetName(); {
		case n == "":
		case first == "":
			first = n
		case n != first:
			return 2
		}
	}
	if first == "" {
		return 0
	}
	return 1
}

// answerUnknown answers for a transaction this node found nowhere: after
// confirming leadership it looks once more (a decision may have been applied
// meanwhile) and then answers ABORTED if presume, else OUTCOME_UNKNOWN.
func (c *Engine) answerUnknown(ctx context.Context, id string, presume bool) (o verdictv1.Outcome, reason string, err error) {
	term, err := c.confirmLeader(ctx)
	if err != nil {
		return 0, "", err
	}
	o, reason = c.answer(c.lookup(id))
	if o == verdictv1.Outcome_OUTCOME_UNSPECIFIED && reason == "" {
		o, reason = verdictv1.Outcome_OUTCOME_UNKNOWN, reasonOnePhaseUnknown
		if presume {
			o, reason = verdictv1.Outcome_OUTCOME_ABORTED, reasonUnknownTx
			// No stamp may register it later in this term (stamped.go);
			// if one just did, answer from it.
			switch err := c.tombstone(id, term); {
			case errors.Is(err, errRegistered):
				o, reason = c.answer(c.lookup(id))
			case err != nil:
				return 0, "", err
			}
		}
	}
	if !c.stillLeader(term) {
		return 0, "", errorf(ErrUnavailable, "verdict: leadership changed; ask again")
	}
	return o, reason, nil
}
