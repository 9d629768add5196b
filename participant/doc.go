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
//     work never goes missing from the commit. Handlers find the
//     transaction with TxFromContext and do their work under its id.
//   - Server.Register serves the Participant service that the coordinator
//     calls: Prepare, and batched Commit and Abort. Abort fences a
//     transaction: later work and Prepare for it are refused.
//   - Server.Start runs the recovery loop: on start and periodically, every
//     transaction the Resource holds prepared is resolved by asking the
//     coordinator its Outcome. A prepared participant never decides alone.
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
