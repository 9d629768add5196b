// Package table is the coordinator's replicated state machine: the table of
// decided transactions that the COMMIT, ABORT, DONE, Prune,
// HeuristicResolution, Checkpoint and Divergence records of the decision
// log build. Records go in
// ([Table.ApplyEntry]), the table comes out ([Table.Get], [Table.Undone],
// [Table.ListMatching], [Table.Snapshot]); the rules of two-phase commit it
// enforces (the first decision wins, DONE never changes an outcome, ...)
// are listed on [Table].
//
// Determinism: every replica that applies the same records in the same
// order must hold the same table, return the same [Result]s and write the
// same snapshot bytes. So the package
//   - reads no clock: every time it knows comes in a record (decided_unix_ms,
//     done_unix_ms, a Prune's before) or in a txid (a UUIDv7 carries its
//     creation time), and a caller's own time comes in as an argument
//     ([Table.LogTime]'s retention, [ListFilter]'s CreatedBeforeMs);
//   - does no I/O, starts no goroutine and draws no random numbers;
//   - lets no map-iteration order reach its output: listings are sorted by
//     txid, a bounded page keeps the smallest txids whatever the order it
//     meets them in, and a snapshot lists the undone transactions by txid,
//     then the done ones in the order they became done, marshaled
//     deterministically.
//
// The state hash ([Table.Hash], compared across replicas at checkpoints)
// is the SHA-256 of that snapshot encoding, so it is as deterministic as
// the snapshot: equal on every replica at the same applied index, whatever
// the map order, the node's clock or its restarts (Restore rebuilds
// exactly what Snapshot wrote). Checkpoint records change nothing;
// Divergence records mark (or clear) a member whose hash differed, which
// snapshots keep too.
//
// It imports only the log records (proto/verdict/log/v1), the public types
// they carry (proto/verdict/v1), protobuf, internal/txid (to read a txid's
// time) and the standard library; the layering test checks this.
//
// How the coordinator uses it: its fsm is the txlog.StateMachine around one
// Table. It decodes each Raft entry's batch, applies it with the entry's
// term under a lock that the readers (Outcome, GetTransaction, the
// recovery loop, listings) share, and then tells the engine of each applied
// record and its Result, outside the lock; it snapshots and restores the
// Table for txlog, and checks a snapshot a peer sends by restoring it into
// a fresh Table. A Table is not safe for concurrent use.
package table
