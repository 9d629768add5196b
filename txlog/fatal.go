package txlog

import "fmt"

// A WAL or snapshot write that fails, a failed fsync above all, is fatal (as
// in etcd): what reached the disk is unknown, so the node may not go on
// acknowledging anything. The Ready loop halts: leadership ends at once,
// every waiting and later call fails with ErrStopped (wrapping the cause),
// and Done closes; the process is expected to exit and be restarted from
// what is durable.

// halt ends the node's part in the group as the Ready loop returns: err is
// the fatal error that stopped it, or nil on Stop. It runs on the loop
// goroutine, before the loop's deferred shutdown.
func (n *Node) halt(err error) {
	if err != nil {
		n.log.Error("raft node stopping on a fatal error", "err", err)
		n.fatal.Store(&err)
	}
	// First of all: from here on no caller sees a ready leader.
	n.leaderTerm.Store(0)
	n.lead.Store(0)
	wasLeader := n.isLeader
	n.isLeader = false
	stopped := n.stoppedErr()
	n.failWaiters(stopped)
	n.failConf(stopped, stopped)
	if wasLeader && n.cfg.OnLeadership != nil {
		n.cfg.OnLeadership(false, n.term.Load())
	}
}

// stopped reports whether the node has stopped or is stopping.
func (n *Node) stopped() bool {
	if n.fatal.Load() != nil {
		return true
	}
	select {
	case <-n.stopc:
		return true
	default:
		return false
	}
}

// stoppedErr is the error calls on a stopped node return: ErrStopped,
// wrapping the fatal error if one stopped it.
func (n *Node) stoppedErr() error {
	if err := n.err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStopped, err)
	}
	return ErrStopped
}

// FailSyncs makes every later WAL sync of this node fail with err, as a disk
// that fails fsync does: the node stops on a fatal error at its next write.
// For tests.
func (n *Node) FailSyncs(err error) { n.storage.wal.fault.Store(&err) }
