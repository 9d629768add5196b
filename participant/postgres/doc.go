// Package postgres is Verdict's PostgreSQL participant: a
// participant.Resource (and participant.Recoverer) over a pgx v5 pool, so
// that a service's SQL commits or aborts with the distributed transaction.
//
// # Early prepare
//
// A handler behind participant.Server's interceptor runs its SQL with
// RunInTx, as it would with pgx.BeginFunc. When the work function returns
// nil, RunInTx writes a marker row and runs PREPARE TRANSACTION at once,
// before the handler answers: the vote is durable before the business call
// returns, no connection stays pinned across calls, and the coordinator's
// Prepare only confirms (YES for prepared work, READ_ONLY for work that
// wrote nothing, NO for work that failed, is aborted, or is not here). An
// SQL error, even one the work function ignores, makes this participant
// vote NO.
//
// Round trips: BEGIN travels in one pipeline with the work's first
// statement when that statement has arguments (otherwise BEGIN goes first,
// as Conn.Begin would), and the marker row with PREPARE TRANSACTION, so a
// call whose work is one statement with arguments costs PostgreSQL two
// round trips, and phase 2 one
// (COMMIT PREPARED): the same as preparing and committing by hand. Work
// that runs nothing costs none; work that only reads is found to have
// written nothing in the same pipeline (nothing is marked or prepared),
// is rolled back, and votes READ_ONLY.
//
// Each transaction does its writing work in one RunInTx call per
// participant; a second call while the first runs or after it prepared is
// refused with ErrWorkDone. A second PostgreSQL transaction could not see
// the first one's writes, and would wait on its locks until the outcome,
// which waits for the call: put all the statements of a transaction in one
// call. Calls that wrote nothing or failed hold nothing, and do not count.
//
// # Names
//
// The gid of a prepared transaction is "<Prefix>:<txid>:<Branch>"
// (Prefix "verdict" by default; Branch the participant's name), at most
// 134 bytes. A gid cannot be a bind parameter of PREPARE TRANSACTION or
// COMMIT PREPARED, so every part is validated against characters that need
// no quoting before it is spliced into SQL.
//
// # Markers and heuristic outcomes
//
// The marker row (Config.MarkerTable, created if missing) is inserted in
// the prepared transaction itself, so it commits or vanishes with it. When
// COMMIT PREPARED or ROLLBACK PREPARED finds no such gid, the marker tells
// what became of it: present, the transaction committed (a repeated Commit
// succeeds; an Abort is a heuristic commit); absent, it rolled back (a
// repeated Abort succeeds; a Commit is a heuristic rollback: someone ran
// ROLLBACK PREPARED behind the participant's back). A heuristic outcome is
// never hidden: Commit or Abort returns a *HeuristicError (errors.Is
// ErrHeuristic), so the coordinator keeps the transaction undone and
// visible as stuck until an operator resolves it; it is logged at error
// level, counted in Stats, and passed to Config.OnHeuristic, once per
// transaction.
//
// Markers are deleted lazily: a Commit at most every Config.CleanInterval
// deletes one batch of this branch's markers older than
// Config.MarkerRetention (24 h by default), which must outlast the time a
// transaction may stay prepared plus the time the coordinator may keep
// redelivering its Commit. Past it, a redelivered Commit would be reported
// as a heuristic rollback: a false alarm, never a silent loss.
//
// # Abort, fences, recovery
//
// Abort rolls back prepared work and fences the transaction in memory:
// later work and Prepare are refused, and work running at that moment is
// rolled back instead of prepared. Prepared lists this branch's gids in
// pg_prepared_xacts of the current database; participant.Server's
// recovery loop resolves each through the coordinator's Outcome, so a
// process that dies after PREPARE finds its transactions committed or
// rolled back when it restarts. New fails fast (ErrPreparedDisabled) on a
// server whose max_prepared_transactions is 0.
//
// Example:
//
//	pool, err := pgxpool.New(ctx, "postgres://app@db/orders")
//	if err != nil { ... }
//	res, err := postgres.New(ctx, postgres.Config{Pool: pool, Branch: "orders"})
//	if err != nil { ... }
//	p, err := participant.NewServer(participant.Config{
//		Name:         "orders", // the Branch
//		Address:      "orders:9000",
//		Resource:     res,
//		Coordinators: []string{"coord-1:7400", "coord-2:7400", "coord-3:7400"},
//	})
//	if err != nil { ... }
//	g := grpc.NewServer(grpc.ChainUnaryInterceptor(p.UnaryServerInterceptor()))
//	p.Register(g)
//	orderspb.RegisterOrdersServer(g, svc)
//	p.Start()
//	defer p.Stop()
//
//	// In a handler of svc:
//	func (s *ordersService) Place(ctx context.Context, req *orderspb.PlaceRequest) (*orderspb.PlaceResponse, error) {
//		err := s.res.RunInTx(ctx, func(tx pgx.Tx) error {
//			_, err := tx.Exec(ctx, "INSERT INTO orders (id, item) VALUES ($1, $2)", req.Id, req.Item)
//			return err
//		})
//		if err != nil {
//			return nil, status.Error(codes.FailedPrecondition, err.Error())
//		}
//		return &orderspb.PlaceResponse{}, nil
//	}
package postgres
