// Package coordinator is a Verdict coordinator node: the 2PC engine
// (package coordinator/engine) served over gRPC, replicated through Raft.
//
// The pieces, from the inside out:
//
//   - The table (package coordinator/table) is the deterministic state
//     machine: COMMIT, ABORT, DONE, Prune and HeuristicResolution records
//     in, the transaction table out. No clock, no I/O.
//   - The engine (package coordinator/engine) is the 2PC engine over the
//     table, behind interfaces it defines for the log, the participants,
//     the publisher, the observer and the clock. This package gives it
//     each: the Raft log (raftlog.go, over txlog), the participants over
//     gRPC (participants.go: one connection and one prepare batcher per
//     address, released when idle; prepare.go), the NATS publisher of
//     staged messages (publish.go) and lifecycle events (events.go) over
//     the node's NATS connection (nats.go), and the metrics (metrics.go).
//   - The gRPC edge: the services (service.go, admin.go, adminactions.go,
//     membership.go) validate input (validate.go), forward to the leader
//     when this node is a follower (forward.go) and map the engine's
//     errors to status codes in one table (status.go); Server (server.go)
//     wires a node together from a Config (config.go), whose zero
//     durations and counts take the defaults (DefaultConfig) and whose bad
//     values Start refuses with ErrInvalidConfig.
//   - Limits on what callers hold of a node (connlimits.go): connections
//     per client host (Config.MaxConnectionsPerHost, hostlimit.go: one
//     more is closed as soon as accepted, so no host holds up another,
//     nor the peers' Raft connections), calls per connection
//     (MaxConcurrentStreams), the size of list pages (MaxListBytes,
//     engine/list.go)
//     and of every answer, and keepalive. A call holds its answer until
//     the caller reads it; the node encodes answers larger than gRPC's
//     32 KiB pooled buffers into buffers of their own size (codec.go), so
//     an unread answer holds no more than its size.
//   - Observability: each Server owns a Prometheus registry (metrics.go;
//     Server.Metrics), which the engine counts into and which reads the
//     node's Raft state and tables at scrape time; txlog reports WAL fsyncs
//     and snapshots through its Observer. Aborts are counted by a reason
//     from a fixed set (engine.AbortCause), never by free text. The standard gRPC
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
// Lifecycle: the engine owns every goroutine it starts (engine/lifecycle.go);
// the participant pool owns its prepare batchers', the NATS link its event
// publisher's, and the server its serve loops and node watcher. Server.Stop
// stops, in order: the calls (health NOT_SERVING, then the gRPC server, once
// the engine's work is cancelled so that no call waits on it), the engine,
// the participant pool, the NATS link, the Raft node, the metrics listener
// and forwarding connections.
// Server.Done closes once Stop has returned, or as soon as the Raft loop
// halts on a fatal storage error; Server.Err says which (nil after Stop,
// the wrapped storage error otherwise), and the caller then calls Stop.
//
// Presumed abort, and what is answered for a transaction the leader does
// not know: see package coordinator/engine.
package coordinator
