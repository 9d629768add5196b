// Package coordinator is Verdict's 2PC engine and its gRPC servers.
//
// The pieces, from the inside out:
//
//   - The table (package coordinator/table) is the deterministic state
//     machine: COMMIT, ABORT, DONE, Prune and HeuristicResolution records
//     in, the transaction table out. No clock, no I/O.
//   - fsm (fsm.go) applies Raft entries to the table under a lock, for the
//     node, and then tells the engine of each applied record (a side
//     channel outside the table): the ready leader reacts to a
//     HeuristicResolution when it is applied, whatever became of the call
//     that proposed it, and every node ends what phase 2 kept of a
//     transaction at its DONE.
//   - Coordinator (coordinator.go) is the leader's engine: active
//     transactions in memory (active.go), the commit path (commit.go),
//     decisions batched into Raft proposals (proposer.go), phase-2 delivery
//     with backoff (delivery.go), deadlines and recovery after a leader
//     change (recovery.go).
//   - Transactional messages: StageMessages and Commit's messages add to an
//     active transaction (messages.go); they ride in its COMMIT record and
//     the table keeps them until DONE; phase 2 treats them as one more target,
//     "@nats", which the leader publishes to JetStream with Nats-Msg-Id =
//     <txid>/<n> (publish.go) over the node's NATS connection (nats.go).
//     Lifecycle events go out best effort on verdict.events.<kind>
//     (events.go).
//   - Time: one Clock (Config.Clock, clock.go) tells the time and drives
//     every timer of the engine: transaction deadlines, phase-2 backoffs
//     and stuck marking, the DONE flush, the recovery sweep (deadline
//     aborts, re-drives, Prune records) and the idle release of
//     participant connections and phase-2 senders; tests drive it by
//     hand. Timeouts of network calls and the wait for a leader stay on
//     the system clock, and the log's clock (logclock.go) bounds its pace
//     by the monotonic clock, which no clock setting moves.
//   - Operators: the leader keeps a bounded timeline of each transaction
//     it handles (timeline.go: begin, enlistments, votes, decision,
//     phase-2 attempts and acks), re-drives phase 2 on request (retry.go),
//     aborts an undecided transaction (adminabort.go), and resolves a
//     participant that is gone for good heuristically (heuristic.go): a
//     HeuristicResolution record that the table applies (table/heuristic.go),
//     audited with the caller's identity (operator.go).
//   - The gRPC services (service.go, admin.go) validate input, forward to the
//     leader when this node is a follower (forward.go) and map results to
//     status codes; Server (server.go) wires a node together from a
//     Config (config.go), whose zero durations and counts take the
//     defaults (DefaultConfig) and whose bad values Start refuses with
//     ErrInvalidConfig.
//   - Limits on what callers hold of a node (connlimits.go): connections
//     per client host (Config.MaxConnectionsPerHost, hostlimit.go: one
//     more is closed as soon as accepted, so no host holds up another,
//     nor the peers' Raft connections), calls per connection
//     (MaxConcurrentStreams), the size of list pages (MaxListBytes, list.go)
//     and of every answer, and keepalive. A call holds its answer until
//     the caller reads it; the node encodes answers larger than gRPC's
//     32 KiB pooled buffers into buffers of their own size (codec.go), so
//     an unread answer holds no more than its size.
//   - Observability: each Server owns a Prometheus registry (metrics.go;
//     Server.Metrics), which the engine counts into and which reads the
//     node's Raft state and tables at scrape time; txlog reports WAL fsyncs
//     and snapshots through its Observer. Aborts are counted by a reason
//     from a fixed set (abortCause), never by free text. The standard gRPC
//     health service and readiness (health.go): a node is ready once it
//     has applied its log (a leader its barrier, a follower the commit
//     index its leader reported after the start). Config.MetricsAddr
//     serves /metrics, /healthz and /readyz (http.go). Every log line about
//     transactions carries txid (a list, for a line about a batch).
//   - Security: the node serves mutual TLS when Config.TLS is set, and
//     dials peers and participants with the same certificate (tls.go);
//     without TLS it serves only on loopback unless
//     Config.InsecurePlaintext. An interceptor (auth.go) requires the admin
//     role (a certificate with OU AdminOU, or Config.AdminToken) for every
//     Admin RPC but the read-only Status and Members, the node role
//     (NodeOU) for the Raft service (in plaintext: a member's IP address;
//     plaintext relies on network isolation, admin token or not), and
//     txlog takes a Raft message only from a member (under TLS: from the
//     not removed node id the sender's certificate names,
//     verdict-node://<id>, member or about to be one; a node refuses
//     to start with a certificate that does not name its own id), and
//     names each caller (certificate CN or IP address) for the per-client
//     limit on open transactions and the audit of operator actions.
//
// Lifecycle: the engine owns every goroutine it starts (lifecycle.go):
// the leadership watcher, the sweep, the proposer, the DONE flush, the
// phase-2 senders, the prepare batchers, the idle-participant release,
// confirmation rounds, decisions and the event publisher all end when its
// one context is cancelled, and its stop waits for them on one WaitGroup;
// its components take that context rather than stop channels of their
// own. Server.Stop stops, in order: the calls (health NOT_SERVING, then
// the gRPC server, once the engine's work is cancelled so that no call
// waits on it), the engine (then its participant and NATS connections),
// the Raft node, the metrics listener and forwarding connections.
// Server.Done closes once Stop has returned, or as soon as the Raft loop
// halts on a fatal storage error; Server.Err says which (nil after Stop,
// the wrapped storage error otherwise), and the caller then calls Stop.
//
// Presumed abort: only COMMIT must be durable before an initiator hears
// "committed". A transaction the leader does not find in its log or memory
// is aborted; "unknown ⇒ aborted" is answered only after a ReadIndex has
// confirmed this node is still the leader, and only to a caller it cannot
// mislead (unknown.go): a single-participant transaction is committed in
// one phase without waiting for a log record (commit.go; the leader first
// confirms it still leads, confirm.go, and records the outcome lazily with
// the next DONE batch, proposed again while it leads until applied), so a
// later leader that does not find it answers
// OUTCOME_UNKNOWN to a retried Commit or an initiator's Outcome, never
// ABORTED.
package coordinator
