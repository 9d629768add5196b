package engine

import (
	"context"

	"github.com/verdict-tx/verdict/coordinator/table"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Retry re-drives phase 2 of a decided transaction without DONE now,
// skipping what remains of its participants' backoff. A transaction that is
// not decided, or whose phase 2 is complete, is refused.
func (c *Engine) Retry(ctx context.Context, req *verdictv1.RetryTransactionRequest) (*verdictv1.RetryTransactionResponse, error) {
	if _, ok := c.leaderTerm(); !ok {
		return nil, errNotLeader()
	}
	id := req.GetTxid()
	tx, err := c.undoneDecision(id, "retry")
	if err != nil {
		return nil, err
	}
	o := OutcomeOf(tx.GetState())
	c.delivery.deliver(id, o, phase2Targets(o, table.Unresolved(tx), tx.GetStagedCount() > 0))
	c.delivery.retryNow(id)
	c.cfg.log.Info("phase 2 retried by an operator", "txid", id)
	if tx, err = c.Describe(id); err != nil {
		return nil, err
	}
	return &verdictv1.RetryTransactionResponse{Transaction: tx}, nil
}

// undoneDecision returns transaction id if it is decided and its phase 2
// is not complete; otherwise the error that says why there is nothing to
// do (what names the operator's action): FailedPrecondition for a done, an
// undecided, or a decided transaction that needs no phase 2 (one-phase,
// read-only), NotFound (with the retention note when it applies).
func (c *Engine) undoneDecision(id, what string) (*verdictv1.Transaction, error) {
	switch f := c.lookup(id); f.where {
	case inLog:
		if f.tx.GetDone() {
			return nil, errorf(ErrNotActive, "verdict: transaction %s is %s and its phase 2 is complete: nothing to %s", id, stateWord(f.tx.GetState()), what)
		}
		return f.tx, nil
	case inMemory:
		st := c.active.state(f.live)
		return nil, errorf(ErrNotActive, "verdict: transaction %s is %s: not decided, nothing to %s", id, stateWord(st), what)
	case inRecent:
		return nil, errorf(ErrNotActive, "verdict: transaction %s is %s and needs no phase 2: nothing to %s", id, OutcomeWord(f.recent.outcome), what)
	default:
		return nil, notFound(id, f)
	}
}

// listStuck is ListTransactions for stuck transactions: decided ones whose
// phase 2 has failed for longer than the stuck threshold, from the leader's
// memory.
func (c *Engine) listStuck(req *verdictv1.ListTransactionsRequest, f *table.ListFilter, limit int) *verdictv1.ListTransactionsResponse {
	var txs []*verdictv1.Transaction
	st := req.GetState()
	for _, id := range c.delivery.stuckIDs() {
		if id <= req.GetAfterTxid() {
			continue
		}
		tx, ok := c.fsm.get(id)
		if !ok || (st != verdictv1.TxState_TX_STATE_UNSPECIFIED && tx.GetState() != st) || !f.Admits(id, tx.GetParticipants()) {
			continue
		}
		c.delivery.annotate(tx)
		if txs = append(txs, tx); len(txs) > limit {
			break
		}
	}
	return listPage(txs, limit, c.cfg.maxListBytes, false)
}
