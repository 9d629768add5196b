package engine

import (
	"context"
	"time"

	"github.com/verdict-tx/verdict/coordinator/table"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// What the node reads of the engine for its status, metrics and tests.

// Size is the number of transactions in this node's table.
func (c *Engine) Size() int { return c.fsm.size() }

// UndoneCount is the number of decided transactions in this node's table
// whose phase 2 is not done.
func (c *Engine) UndoneCount() int { return c.fsm.undoneCount() }

// StuckCount is the number of transactions this leader marks stuck; 0 on
// a follower.
func (c *Engine) StuckCount() int { return len(c.delivery.stuckIDs()) }

// Applied is transaction id as this node's table holds it (a copy), from
// the records applied so far.
func (c *Engine) Applied(id string) (*verdictv1.Transaction, bool) { return c.fsm.get(id) }

// Messages are the staged messages of transaction id that this node's
// table holds (until its DONE).
func (c *Engine) Messages(id string) []*verdictv1.StagedMessage { return c.fsm.messages(id) }

// AppliedAll is every transaction of this node's table, in txid order.
func (c *Engine) AppliedAll() []*verdictv1.Transaction {
	txs, _ := c.fsm.list(table.ListFilter{IncludeDone: true}, "", 0)
	return txs
}

// Phase2Waits reports whether this leader's phase 2 of id waits for
// participant name.
func (c *Engine) Phase2Waits(id, name string) bool { return c.delivery.waits(id, name) }

// DonePending reports whether phase 2 of id is complete at this leader and
// its DONE record not applied yet.
func (c *Engine) DonePending(id string) bool { return c.delivery.completed(id) }

// TestingPropose proposes rec through the engine's batching proposer, as
// the engine's own records go, and waits for its application if wait: for
// tests that fill the log.
func (c *Engine) TestingPropose(ctx context.Context, rec *logv1.LogRecord, wait bool) error {
	_, err := c.prop.submit(ctx, rec, wait)
	return err
}

// TestingDecision is a decision record, as the engine writes one.
func TestingDecision(id string, o verdictv1.Outcome, parts []*verdictv1.ParticipantRef, reason string, now, deadline time.Time) *logv1.LogRecord {
	return decisionRecord(id, o, parts, reason, now, deadline)
}
