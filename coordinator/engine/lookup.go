package engine

import verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"

// place says where a transaction id was found.
type place int

const (
	nowhere   place = iota // unknown to this node
	inLog                  // decided: the replicated table holds its record
	inMemory               // active or preparing at this leader
	inRecent               // decided at this leader, record not applied yet or compacted away
	inExpired              // forgotten after the retention period
)

// found is what lookup found of a transaction id; tx, live or recent is
// set according to where.
type found struct {
	where  place
	tx     *verdictv1.Transaction // inLog
	live   *activeTx              // inMemory
	recent recent                 // inRecent
}

// lookup finds what this node knows of id, in this order: its record in
// the replicated table (a logged decision is final and wins over the
// leader's memory, which may still be finishing it), the leader's active
// transaction, a recent outcome the leader decided, its expiry, or
// nothing.
func (c *Engine) lookup(id string) found {
	if tx, ok := c.fsm.get(id); ok {
		return found{where: inLog, tx: tx}
	}
	if t, ok := c.active.get(id); ok {
		return found{where: inMemory, live: t}
	}
	if r, ok := c.active.recentOutcome(id); ok {
		return found{where: inRecent, recent: r}
	}
	if c.fsm.expired(id) {
		return found{where: inExpired}
	}
	return found{}
}

// decided reports the outcome and reason of a transaction found in the
// log or among the recent outcomes.
func (f found) decided() (verdictv1.Outcome, string, bool) {
	switch f.where {
	case inLog:
		return OutcomeOf(f.tx.GetState()), f.tx.GetReason(), true
	case inRecent:
		return f.recent.outcome, f.recent.reason, true
	}
	return 0, "", false
}

// decidedWord names the decided state of a transaction found in the log or
// among the recent outcomes ("committed", "aborted"...).
func (f found) decidedWord() string {
	if f.where == inLog {
		return stateWord(f.tx.GetState())
	}
	return OutcomeWord(f.recent.outcome)
}

// answer is what an Outcome query learns of the transaction: its decided
// outcome, PENDING while it is active, EXPIRED, or OUTCOME_UNSPECIFIED and
// no reason when this node knows nothing of it.
func (c *Engine) answer(f found) (verdictv1.Outcome, string) {
	if o, reason, ok := f.decided(); ok {
		return o, reason
	}
	switch f.where {
	case inMemory:
		return verdictv1.Outcome_OUTCOME_PENDING, "transaction " + stateWord(c.active.state(f.live))
	case inExpired:
		return verdictv1.Outcome_OUTCOME_EXPIRED, reasonExpired
	}
	return verdictv1.Outcome_OUTCOME_UNSPECIFIED, ""
}
