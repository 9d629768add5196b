// Package coordinator is Verdict's 2PC engine and its gRPC servers.
//
// The pieces, from the inside out:
//
//   - State (state.go) is the deterministic state machine: COMMIT, ABORT,
//     DONE, Prune and HeuristicResolution records in, the transaction table
//     out. No clock, no I/O.
//   - fsm (fsm.go) applies Raft entries to State under a lock, for the node.
//   - Coordinator (coordinator.go) is the leader's engine: active
//     transactions in memory (active.go), the commit path (commit.go),
//     decisions batched into Raft proposals (proposer.go), phase-2 delivery
//     with backoff (delivery.go), deadlines and recovery after a leader
//     change (recovery.go).
//   - Transactional messages: StageMessages and Commit's messages add to an
//     active transaction (messages.go); they ride in its COMMIT record and
//     State keeps them until DONE; phase 2 treats them as one more target,
//     "@nats", which the leader publishes to JetStream with Nats-Msg-Id =
//     <txid>/<n> (publish.go) over the node's NATS connection (nats.go).
//     Lifecycle events go out best effort on verdict.events.<kind>
//     (events.go).
//   - Operators: the leader keeps a bounded timeline of each transaction
//     it handles (timeline.go: begin, enlistments, votes, decision,
//     phase-2 attempts and acks), re-drives phase 2 on request (retry.go),
//     aborts an undecided transaction (adminabort.go), and resolves a
//     participant that is gone for good heuristically (heuristic.go): a
//     HeuristicResolution record that State applies (state_heuristic.go),
//     audited with the caller's identity (operator.go).
//   - The gRPC services (service.go, admin.go) validate input, forward to the
//     leader when this node is a follower (forward.go) and map results to
//     status codes; Server (server.go) wires a node together.
//
// Presumed abort: only COMMIT must be durable before an initiator hears
// "committed". A transaction the leader does not find in its log or memory
// is aborted; "unknown ⇒ aborted" is answered only after a ReadIndex has
// confirmed this node is still the leader.
package coordinator
