// Package txlog is Verdict's replicated decision log.
//
// It holds the local write-ahead log (wal.go: segment files of CRC32C-framed
// records, one fdatasync per raft Ready, torn tails truncated on open), the
// snapshot files (snap.go), a raft.Storage over both (storage.go), the Raft
// node that drives go.etcd.io/raft/v3 (node.go, loop.go) and the peer
// transport over gRPC streams (transport.go). What a peer sends is checked
// before raft steps it (inbound.go: Node.admit): an absurd term, an append
// whose entries are no log slice, a snapshot that does not decode or whose
// configuration raft cannot restore are dropped, so that no message can
// leave a data dir the node cannot start from.
//
// A node steps a raft message from a peer only if a peer could have sent
// it (peerauth.go): addressed to this node, from a voter or learner of the
// configuration it has applied (Config.Peers while it has none, joining)
// and, over TLS, from the node id the connection's client certificate
// names (tlsconf.NodeID: a URI SAN verdict-node://<id>), which may then be
// a node this one does not know as a member yet (never a removed one). In
// plaintext the sender id proves nothing: peers are trusted by their
// network position.
// What is dropped is counted by reason (Node.Dropped).
//
// The node's Ready loop follows the order raft requires: persist entries and
// hard state with one fsync (the group commit), send messages, apply
// committed entries, Advance. A proposal waits until it is applied locally;
// a new leader serves only after it has applied an entry of its own term.
// A failed WAL or snapshot write (fatal.go) halts the loop: leadership ends
// at once, every call fails with ErrStopped wrapping the cause, and Done
// closes; the process is expected to exit and restart from its data dir.
//
// Membership changes (membership.go) go through raft ConfChanges, one at a
// time, proposed by the Ready loop: a new node is added as a learner and the
// leader promotes it to voter once it has caught up; removed ids are never
// reused. A node started with Config.Join waits for the leader instead of
// bootstrapping a group. Snapshots (clustersnap.go) wrap the state machine's
// bytes with the members' addresses and the removed ids, so both survive log
// compaction.
//
// For metrics and health, without depending on a metrics library
// (observer.go, catchup.go): Config.Observer is told each WAL fsync's
// duration and each snapshot's size, Node.Counters counts proposals and
// leader changes, and Node.WaitCaughtUp waits until the node has applied
// what its group had committed after the call (a leader's barrier, or the
// commit index the leader reports for a follower's read index).
package txlog
