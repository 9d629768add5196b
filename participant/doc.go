// Package participant is the participant SDK of Verdict, a two-phase-commit
// coordinator: a service that does work inside distributed transactions
// implements Resource (or uses an adapter) and runs a Server.
//
// The pieces:
//   - Resource is the adapter's side: Prepare votes, Commit and Abort apply
//     the decision, all idempotent. Recoverer is an optional ability: list
//     what is held prepared. MemResource is an in-memory implementation
//     for tests and benchmarks that records every state change and flags
//     atomicity violations.
//   - Server.UnaryServerInterceptor (and StreamServerInterceptor), installed
//     on the service's own gRPC server, admit calls made under a
//     transaction: the participant enlists with the coordinator
//     synchronously, before the handler runs, so a participant that did
//     work never goes missing from the commit. A transaction its initiator
//     began itself (client.WithLocalBegin) carries the leader term it is
//     stamped with; the enlistment forwards the stamp, by which the leader
//     registers the transaction. Handlers find the
//     transaction (a TxInfo: id, coordinators, deadline) with
//     TxFromContext and do their work under its id.
//   - With Config.EarlyVote a call votes with its enlistment
//     (earlyvote.go): once the handler succeeds, the Resource prepares and
//     the enlistment carries the YES, so the coordinator sends this
//     participant no Prepare. The vote seals the work (later calls are
//     refused). Once the YES may have been sent, the work is never rolled
//     back on this participant's own say: a failed enlistment leaves it
//     prepared for the recovery loop, unless the refusal proves the vote
//     uncounted (an invalid request, a limit). The recovery loop never asks about
//     work whose call is still in progress (its enlistment may not have
//     arrived yet), and a coordinator's Prepare that comes while a call is
//     in progress votes NO.
//   - Server.Register serves the Participant service that the coordinator
//     calls: Prepare, and batched Commit and Abort (the Resource prepares
//     a batch's transactions concurrently, at most
//     Config.MaxConcurrentPrepares at once, default 64). Abort fences a
//     transaction: later work and Prepare for it are refused, and so is
//     a later Commit (FailedPrecondition, without asking the Resource),
//     such as a deposed coordinator leader's late one-phase Commit: an
//     acknowledgement would tell its initiator COMMITTED for work rolled
//     back here. A fence is remembered until a minute past the
//     transaction's deadline (an hour after its creation when the
//     deadline is unknown here), and at least a minute.
//   - Server.Start runs two loops, which Server.Stop ends and waits for;
//     their errors are logged, never fatal:
//   - The recovery loop (recover.go): at Start and every
//     Config.RecoveryInterval, every transaction the Resource holds
//     prepared (Recoverer) is resolved by asking the coordinator its
//     Outcome, as the holder of prepared work (OutcomeRequest.prepared):
//     COMMITTED is committed, ABORTED (unknown included: presumed abort,
//     safe for work this participant has not committed) is aborted and
//     fenced, PENDING is asked again on the next pass, EXPIRED is logged
//     for an operator, UNKNOWN (never the answer to a prepared asker) is
//     logged and asked again. A prepared participant never decides alone.
//     The claim "prepared here" stays true until the answer is applied
//     (commitgate.go): a transaction committed since the pass listed it,
//     or with a Commit in progress, is left alone, and while its question
//     is out a Commit of it is refused (FailedPrecondition; the leader
//     that sent it logs a COMMIT record, or reports the outcome
//     ambiguous), so that a presumed abort never meets committed work.
//   - The deadline sweep (sweep.go, txtable.go): the Server records, from
//     the metadata of each call, the deadline of every transaction it did
//     work in. Every Config.SweepInterval, work that has not been voted
//     YES on and is past its deadline plus Config.DeadlineSlack (room for
//     clock skew) is aborted through Resource.Abort and the transaction
//     is fenced: a late Prepare votes NO, later work is refused. It has
//     not voted, so this is always safe; it frees what the work holds
//     when the initiator crashes and the coordinator's Abort never comes.
//     Work with a YES vote, or with a call or Prepare in progress, is
//     never touched; work that voted YES admits no more calls.
//
// What the Server knows of each transaction (work in progress, its vote,
// its enlistment, its fence) lives in one table whose state machine,
// txState in txtable.go, documents every state and transition; the
// commit gate (commitgate.go) adds the mutual exclusion of a Commit and
// the recovery loop's question, reading the fence from that table.
//
// Security: against a cluster serving TLS, Config.TLS holds the CA that
// signed the nodes and this participant's certificate, for its calls to
// the coordinators (Enlist, Outcome); the nodes' certificates must carry
// the node role (OU "verdict-node"), any other is refused at the
// handshake. The coordinator's calls to the
// Participant service arrive at the application's gRPC server, which then
// serves TLS too: its certificate must be valid for the host of
// Config.Address, and it should require client certificates signed by the
// same CA. Over TLS the Participant service (Prepare, Commit, Abort)
// answers only callers whose verified certificate has the node role (OU
// "verdict-node"): another certificate from the CA, an initiator's or a
// participant's, is refused with PermissionDenied, and a caller without a
// certificate with Unauthenticated. Otherwise anyone holding a certificate
// could abort a transaction here after the coordinator decided to commit
// it. In plaintext no caller can be told apart and the service answers
// everyone: a participant server that anyone but the coordinator can reach
// must serve mutual TLS.
//
// Example:
//
//	res := participant.NewMemResource()
//	p, err := participant.NewServer(participant.Config{
//		Name:         "inventory",
//		Address:      "inventory:9000",
//		Resource:     res,
//		Coordinators: []string{"coord-1:7400", "coord-2:7400", "coord-3:7400"},
//	})
//	if err != nil { ... }
//	g := grpc.NewServer(grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()))
//	p.Register(g)
//	inventorypb.RegisterInventoryServer(g, svc) // its handlers call TxFromContext
//	p.Start()
//	defer p.Stop()
//	err = g.Serve(lis)
package participant
