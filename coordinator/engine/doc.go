// Package engine is Verdict's two-phase-commit engine: Begin, Enlist,
// Commit, Abort, Outcome, phase 2, deadlines, recovery after a leader
// change, pruning and the operators' actions (retry, abort, forget), with
// no transport of its own. It defines what it uses, in ports.go, and the
// node (package coordinator) gives it the real things:
//
//   - Log: the replicated log (propose and wait for the apply, ReadIndex,
//     the leader's term). The node's is the Raft log (txlog); the log
//     applies its entries to the engine's StateMachine, the transaction
//     table (package coordinator/table) behind a lock (fsm.go).
//   - Participants: Prepare and the decision, by address. The node's
//     reaches them over gRPC with batching and idle release.
//   - Publisher: staged messages and lifecycle events (NATS JetStream at
//     the node; nil: no NATS).
//   - Observer: the counts of commits, aborts and retries (Prometheus).
//   - Clock: the time, and every timer of the engine (clock.go).
//
// The engine is a value of its own, not a view into the node: New builds
// it, Start starts it over its log, Stop ends every goroutine it started
// (lifecycle.go: one context, one WaitGroup). Tests run it over fakes of
// each port with a clock they advance by hand; the scripted tests
// (testdata/scripts, in the style of etcd raft's interaction tests) drive
// commit, abort, NO votes, deadlines, phase-2 backoff, stuck marking,
// retry, forget, presumed abort after a leader change, expiry and pruning
// without a network or a disk.
//
// The pieces, from the inside out:
//
//   - The active table (active.go) owns the leader's transactions that are
//     not decided yet. One type, activeTx, with one phase (active,
//     preparing, decided) that only the active table's methods change,
//     under its lock.
//   - Begin without a round trip (stamped.go): a transaction its initiator
//     began itself, stamped with the leader term it learned, is registered
//     by its first enlistment or Commit at the leader of that term, and
//     refused by any other; the notes there say why that is safe.
//   - One lookup (lookup.go) finds a txid in the log's table, then in
//     memory, then among the recent outcomes kept without a record, then
//     among the expired; every call that takes a txid starts there.
//   - Votes with the enlistment: a participant that prepared before it
//     enlisted sends its YES with the enlistment (EnlistRequest.votes);
//     the active table keeps it with the participant (activeTx.early), and
//     the commit path sends that participant no Prepare. Unanimity still
//     holds: the vote is the participant's, given for work it made durable
//     and sealed (it admits no more work for the transaction), and the
//     decision still needs a YES from every participant. The vote lives
//     where the enlistment does, in the leader's memory: a leader change
//     loses both, the transaction is presumed aborted, and the prepared
//     participant learns ABORTED from its recovery loop, as after a YES
//     given to Prepare. An enlistment refused records nothing, but a
//     participant that sent a YES cannot tell a refusal from the refusal
//     of a retry whose first attempt was counted: it keeps its work
//     prepared for its recovery loop, whose Outcome question gets the
//     truth. A participant that gets a Prepare while a call of the
//     transaction is still running votes NO: its early YES, which the
//     decision did not count, can no longer be counted.
//   - The commit path (commit.go): prepares in parallel, then one-phase
//     (a single participant, once the leader has confirmed it leads:
//     confirm.go), read-only, or a COMMIT record through the batching
//     proposer (proposer.go), then phase 2.
//   - Phase 2 (delivery.go) is a component with its own inputs
//     (phase2Deps, deliverydeps.go), not a view into the engine: per
//     participant address one sender, batching, exponential backoff with
//     jitter on the Clock, stuck marking, and DONE records batched by a
//     flush the Clock drives. Staged messages are one more target, "@nats"
//     (publish.go).
//   - Recovery (recovery.go): a new ready leader forgets the transactions
//     of other terms and re-drives phase 2 of every undone decision; the
//     sweep aborts transactions past their deadline and proposes Prune
//     records by the log's time (logclock.go).
//   - State checks (statehash.go): a Checkpoint record changes nothing, and
//     every node that applies it hashes its transaction table there
//     (table.Table.Hash, deterministic in the applied records alone), so
//     the replicas can be compared at one index they all applied
//     (Admin.CheckState, Admin.StateHashes, verdictctl cluster check). A
//     snapshot carries its state's hash, checked at restore. A member the
//     leader's check finds different is marked with a Divergence record
//     (MarkDiverged): a marked node is never the ready leader
//     (watchLeadership) until ClearDiverged, and a leader marked after it
//     served retires its term: it serves again only from a later one.
//     Whatever passed the readiness check before a leadership change is
//     refused after it by the active table and the delivery queue, under
//     the locks the change takes (activeTable.serving, delivery.closed).
//   - Operators: the timeline of each transaction (timeline.go), retry
//     (retry.go), abort (adminabort.go) and the heuristic resolution of a
//     participant gone for good (heuristic.go).
//
// Errors: every error the engine returns wraps one of the sentinel errors
// of errors.go and carries the whole message the caller sees; the node
// maps each sentinel to a gRPC code in one table, at its edge. No file of
// the engine builds a gRPC status.
//
// Presumed abort: only COMMIT must be durable before an initiator hears
// "committed". A transaction the leader does not find in its log or memory
// is aborted; "unknown ⇒ aborted" is answered only after a ReadIndex has
// confirmed this node is still the leader, and only to a caller it cannot
// mislead (unknown.go): a single-participant transaction is committed in
// one phase without waiting for a log record (commit.go; the leader first
// confirms it still leads, and records the outcome lazily with the next
// DONE batch, proposed again while it leads until applied), so a later
// leader that does not find it answers OUTCOME_UNKNOWN to a retried Commit
// or an initiator's Outcome, never ABORTED.
package engine
