package txlog

import "time"

// Observer receives measurements of a node's work, for metrics; txlog
// itself depends on no metrics library. Its methods are called from the
// node's Ready loop: they must be quick, must not block and must not call
// back into the Node.
type Observer interface {
	// WALSynced reports one fdatasync of the WAL that made a Save durable
	// (the group commit of one Ready) and how long it took.
	WALSynced(d time.Duration)
	// SnapshotSaved reports the size in bytes of a snapshot's data the node
	// wrote to disk: one it took of its state machine, or one its leader
	// sent it.
	SnapshotSaved(bytes int)
}

// Counters are running totals of a node's work since it started.
type Counters struct {
	// Proposals is the number of proposals Propose handed to raft.
	Proposals uint64
	// LeaderChanges is the number of times this node learned of a new
	// leader: one other than the last it knew (having none is no change).
	LeaderChanges uint64
	// RefusedMessages is the number of messages from peers that failed
	// the checks made before raft sees them (inbound.go): dropped, or, for
	// a heartbeat committing past this node's log, cut back.
	RefusedMessages uint64
}

// Counters returns the node's running totals.
func (n *Node) Counters() Counters {
	return Counters{Proposals: n.proposals.Load(), LeaderChanges: n.leaderChanges.Load(), RefusedMessages: n.refused.Load()}
}
