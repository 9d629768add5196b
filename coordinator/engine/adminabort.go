package engine

import (
	"context"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// AbortTransaction aborts a transaction that is ACTIVE or PREPARING at this
// leader, as the initiator's Abort would, with the operator named in the
// reason. A decided transaction is refused (FailedPrecondition): its
// outcome is final, and so is a commit that wins the race with the
// operator's abort while preparing.
func (c *Engine) AbortTransaction(ctx context.Context, req *verdictv1.AbortTransactionRequest) (*verdictv1.AbortTransactionResponse, error) {
	if _, ok := c.leaderTerm(); !ok {
		return nil, errNotLeader()
	}
	id := req.GetTxid()
	if f := c.lookup(id); f.where != inMemory {
		return nil, notUndecided(id, f)
	}
	reason := "aborted by operator " + req.GetOperator()
	if r := req.GetReason(); r != "" {
		reason += ": " + r
	}
	if _, err := c.Abort(ctx, &verdictv1.AbortRequest{Txid: id, Reason: reason}); err != nil {
		return nil, err
	}
	c.cfg.log.Warn("transaction aborted by an operator", "txid", id, "operator", req.GetOperator(), "reason", req.GetReason())
	tx, err := c.Describe(id)
	if err != nil {
		return nil, err
	}
	return &verdictv1.AbortTransactionResponse{Transaction: tx}, nil
}

// notUndecided explains why id, found as f and not active at this leader,
// cannot be aborted: it is decided (FailedPrecondition), or unknown
// (NotFound).
func notUndecided(id string, f found) error {
	if f.where != inLog && f.where != inRecent {
		return notFound(id, f)
	}
	return errorf(ErrNotActive,
		"verdict: transaction %s is already %s: a decided transaction cannot be aborted (tx retry re-drives its phase 2; tx forget resolves a participant that is gone for good)", id, f.decidedWord())
}
