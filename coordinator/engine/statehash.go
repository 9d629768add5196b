package engine

import (
	"context"
	"fmt"

	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
)

// The replicas' states are compared at checkpoints: a Checkpoint record
// changes nothing, and every node that applies it hashes its transaction
// table right there (fsm.recordHashLocked). Since the table depends on
// the applied records alone (see table.Table.Hash), replicas that applied
// the same log agree at every checkpoint; one whose apply went wrong, or
// whose disk returned other bytes, differs from then on.

// Checkpoint appends a checkpoint to the log, as the leader, and returns
// its index once this node has applied it.
func (c *Engine) Checkpoint(ctx context.Context) (uint64, error) {
	if _, ok := c.leaderTerm(); !ok {
		return 0, errNotLeader()
	}
	before := c.fsm.stateHashes()
	rec := &logv1.LogRecord{Kind: &logv1.LogRecord_Checkpoint{Checkpoint: &logv1.Checkpoint{}}}
	if _, err := c.prop.submit(ctx, rec, true); err != nil {
		return 0, err
	}
	after := c.fsm.stateHashes()
	if len(after) == 0 || (len(before) > 0 && after[len(after)-1].Index == before[len(before)-1].Index) {
		return 0, fmt.Errorf("%w: the checkpoint was applied without a hash recorded", ErrUnavailable)
	}
	return after[len(after)-1].Index, nil
}

// StateHashes returns this node's state hashes at the latest checkpoints
// it applied, oldest first.
func (c *Engine) StateHashes() []StateHash { return c.fsm.stateHashes() }
