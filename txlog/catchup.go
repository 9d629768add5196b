package txlog

import (
	"context"
	"errors"
	"time"
)

// WaitCaughtUp waits until this node has applied everything its group had
// committed at some moment after the call: then it serves from a state no
// older than the one it had before a restart, and as fresh as the group's
// was when it caught up.
//
//   - A leader has caught up once it is ready: it has applied an entry of
//     its own term (the barrier), hence everything committed before it.
//   - A follower or learner asks the leader for a read index (raft forwards
//     the read) and waits until it has applied that index: the leader's
//     commit index when it answered, at least every entry this node knew
//     committed at start.
//
// Raft drops the read of a node that knows no leader (yet): the read is
// asked again every election timeout, until ctx ends.
func (n *Node) WaitCaughtUp(ctx context.Context) error {
	retry := time.Duration(n.cfg.ElectionTicks) * n.cfg.TickInterval
	for {
		if n.stopped() {
			return n.stoppedErr()
		}
		if _, ok := n.LeaderTerm(); ok {
			return nil
		}
		actx, cancel := context.WithTimeout(ctx, retry)
		index, err := n.readIndex(actx, true)
		cancel()
		switch {
		case errors.Is(err, ErrLeadershipLost):
			continue // a leader changed mid-read: ask the next one
		case err != nil && ctx.Err() == nil && actx.Err() != nil:
			continue // dropped: no leader known when it was asked
		case err != nil:
			return err
		}
		if err := n.WaitApplied(ctx, index); err != nil {
			return err
		}
		// A leader is caught up only once it is ready; a read it answered
		// itself before that is no proof.
		if lead, _ := n.Leader(); lead != n.cfg.ID {
			return nil
		}
	}
}
