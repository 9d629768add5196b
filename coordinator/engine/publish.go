package engine

import (
	"context"
	"errors"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// The staged messages of a COMMIT are one more phase-2 target, beside the
// transaction's participants: a pseudo-participant named messagesName,
// whose "address" messagesAddr routes its deliveries to the leader's
// JetStream publisher instead of a Participant service. Neither can be
// taken by a real participant (validateParticipant refuses both), and
// neither is ever written to the log: the leader adds the target to a
// COMMIT that carries messages when it starts or re-drives phase 2.
const (
	messagesName = "@nats"
	messagesAddr = "@nats"
)

// messagesRef is the phase-2 target of staged messages.
var messagesRef = &verdictv1.ParticipantRef{Name: messagesName, Address: messagesAddr}

// phase2Targets returns the phase-2 targets of a decision: its
// participants, and its staged messages if it is a COMMIT that has any.
func phase2Targets(o verdictv1.Outcome, parts []*verdictv1.ParticipantRef, staged bool) []*verdictv1.ParticipantRef {
	if !staged || o != verdictv1.Outcome_OUTCOME_COMMITTED {
		return parts
	}
	out := make([]*verdictv1.ParticipantRef, len(parts), len(parts)+1)
	copy(out, parts)
	return append(out, messagesRef)
}

// errNoNATS is why phase 2 cannot publish at a leader without
// Config.NatsURL (a cluster whose nodes disagree on it).
var errNoNATS = errors.New("verdict: this leader has no NATS configured (--nats-url): staged messages cannot be published")

// publishStaged publishes the staged messages of the committed
// transactions ids (through the Publisher) and waits for every
// acknowledgement. It returns one error per txid (nil: every message of
// that transaction is acknowledged, so its messages target is done).
// Transactions are independent: one whose subject no stream captures
// fails alone, and is retried (and marked stuck) alone.
func (c *Engine) publishStaged(ctx context.Context, ids []string) []error {
	if c.pub == nil {
		errs := make([]error, len(ids))
		for i := range errs {
			errs[i] = errNoNATS
		}
		return errs
	}
	txs := make([]Staged, len(ids))
	for i, id := range ids {
		txs[i] = Staged{Txid: id, Messages: c.fsm.messages(id)}
	}
	errs := c.pub.Publish(ctx, txs)
	if h := c.cfg.hooks; h != nil && h.AfterPublished != nil {
		for i, id := range ids {
			if errs[i] == nil && !h.AfterPublished(c.ctx, id) {
				errs[i] = errors.New("node stopped")
			}
		}
	}
	return errs
}
