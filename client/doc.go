// Package client is the initiator SDK of Verdict, a two-phase-commit
// coordinator: a service that starts a distributed transaction dials the
// coordinator cluster, begins a transaction, calls the participating
// services with the transaction in the call context, and commits or aborts.
//
// The pieces:
//   - Client (Dial) holds the connections to the coordinator nodes and
//     follows the Raft leader. An endpoint is host:port; one without a port
//     ("coord-1", "[::1]") means the coordinator's port, 7400.
//   - Tx (Client.Begin) is one transaction: begun by a Begin call, or, with
//     WithLocalBegin, by the client itself once it knows the leader's term
//     (the leader registers it at its first enlistment or Commit).
//     Tx.Context puts it in a context;
//     UnaryClientInterceptor and StreamClientInterceptor, installed on the
//     gRPC connections to participants, carry it to them in metadata and
//     record each participant that enlisted.
//   - Tx.Commit and Tx.Abort end it; after that both return ErrTxDone, so a
//     deferred Abort is always safe. Client.Run wraps the whole pattern.
//   - Client.Outcome (and Tx.Outcome) asks what became of a transaction:
//     OutcomeCommitted, OutcomeAborted, OutcomeExpired or OutcomeUnknown.
//
// Every call waits out a leader change within its context: Begin, Commit,
// Abort and Outcome ask again, with a short backoff, while the cluster has
// no leader, and go to the new one when it is elected. Begin without a
// deadline in its context gives up after the transaction's timeout; Commit
// and Abort after the transaction's deadline plus a few seconds.
//
// Commit's result is one of three: nil (COMMITTED: every participant will
// apply the work), an error matching ErrAborted (no participant applies it),
// or an error matching ErrAmbiguous: the outcome could not be learned, the
// transaction may have committed. An ambiguous outcome is never reported as
// an abort. Commit retries on its own (it is idempotent at the coordinator)
// until the transaction's deadline plus a few seconds, marking every attempt
// after the first as a retry. ErrAmbiguous then means either that the
// cluster stayed unreachable that long, or that the coordinator cannot know
// the outcome: a transaction with a single participant is committed in one
// phase, and a leader that did so and lost office before recording it left
// no trace for the next one. Client.Outcome learns the outcome later where
// the coordinator knows it, and answers OutcomeUnknown where it cannot:
// then only the participant knows.
//
// Run's result has the same three forms. When its function fails, Run
// aborts the transaction and returns an error matching ErrAborted once the
// coordinator confirmed the abort, or ErrAmbiguous if it could not within a
// few seconds; the function's error stays reachable through errors.Is and
// errors.As.
//
// A cluster serving TLS is dialed with WithTLS: a *tls.Config with the CA
// that signed the nodes (RootCAs) and this client's certificate
// (Certificates), which the nodes require. The nodes' certificates must
// carry the node role (OU "verdict-node"): any other server certificate is
// refused at the handshake (tlsconf.ErrNotNode). Without it connections are
// plaintext, which nodes serve on loopback only, by default.
//
// Example:
//
//	vc, err := client.Dial([]string{"coord-1:7400", "coord-2:7400", "coord-3:7400"})
//	if err != nil { ... }
//	defer vc.Close()
//	inventory, err := grpc.NewClient("inventory:9000",
//		grpc.WithTransportCredentials(insecure.NewCredentials()),
//		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
//	if err != nil { ... }
//	err = vc.Run(ctx, func(ctx context.Context) error {
//		_, err := inventorypb.NewInventoryClient(inventory).Reserve(ctx, req)
//		return err
//	}, client.WithTimeout(10*time.Second))
//	switch {
//	case err == nil: // committed
//	case errors.Is(err, client.ErrAborted): // nothing happened
//	case errors.Is(err, client.ErrAmbiguous): // unknown: find out, do not retry blindly
//		var amb *client.AmbiguousError
//		errors.As(err, &amb)
//		o, err := vc.Outcome(ctx, amb.TxID, amb.Participants...)
//		// OutcomeCommitted, OutcomeAborted (safe to retry), OutcomeExpired or
//		// OutcomeUnknown (ask the participant); err: ctx ended first.
//	}
package client
