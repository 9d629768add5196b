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

// MarkDiverged records, as the leader, that member node's state differed
// from the others' at the checkpoint at index: it follows from then on,
// but does not lead (watchLeadership: a leader marked after it served
// also retires its term), until ClearDiverged. The mark is in the
// log and the snapshots, so every node, the marked one included, knows it.
// A check older than the member's last clearing (one that was under way
// when an operator cleared it) marks nothing.
func (c *Engine) MarkDiverged(ctx context.Context, node, index uint64) error {
	if cleared := c.fsm.clearedAt(node); index <= cleared {
		return errorf(ErrNotActive, "verdict: member %d's mark was cleared at index %d, after checkpoint %d", node, cleared, index)
	}
	return c.proposeDivergence(ctx, &logv1.Divergence{Node: node, SinceIndex: index})
}

// ClearDiverged clears member node's mark, for operator. A marked node
// that leads (when the unmarked voters cannot) may clear marks too, its
// own included: it is the way out of a cluster whose quorum is marked.
func (c *Engine) ClearDiverged(ctx context.Context, node uint64, operator string) error {
	if _, ok := c.fsm.diverged()[node]; !ok {
		return errorf(ErrNotActive, "verdict: member %d is not marked diverged", node)
	}
	if _, ok := c.log.LeaderTerm(); !ok { // the Raft leader, marked or not
		return errNotLeader()
	}
	return c.proposeDivergence(ctx, &logv1.Divergence{Node: node, Cleared: true, Operator: operator})
}

func (c *Engine) proposeDivergence(ctx context.Context, d *logv1.Divergence) error {
	if !d.GetCleared() {
		if _, ok := c.leaderTerm(); !ok {
			return errNotLeader()
		}
	}
	_, err := c.prop.submit(ctx, &logv1.LogRecord{Kind: &logv1.LogRecord_Divergence{Divergence: d}}, true)
	return err
}

// Diverged returns the members marked diverged: node id → the checkpoint
// at which they differed.
func (c *Engine) Diverged() map[uint64]uint64 { return c.fsm.diverged() }

// CurrentStateHash hashes this node's state now, at the last index it
// applied (as costly as a snapshot).
func (c *Engine) CurrentStateHash() (StateHash, error) { return c.fsm.currentHash() }
