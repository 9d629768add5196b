package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/verdict-tx/verdict/participant"
)

// Resource is a participant.Resource and participant.Recoverer over a
// PostgreSQL database. It is safe for concurrent use.
type Resource struct {
	cfg  Config
	pool *pgxpool.Pool
	log  *slog.Logger
	sql  markerSQL
	now  func() time.Time

	stats struct {
		prepared, readOnly, committed, aborted, heuristic atomic.Uint64
	}

	mu        sync.Mutex
	txs       map[string]*txEntry  // transactions with work here
	fenced    map[string]time.Time // aborted here, until the time given
	nextPrune time.Time            // of fenced
	reported  map[string]struct{}  // gids whose heuristic outcome was reported
	cleaning  bool                 // a marker cleanup is running
	nextClean time.Time
}

var (
	_ participant.Resource  = (*Resource)(nil)
	_ participant.Recoverer = (*Resource)(nil)
)

// New validates cfg, checks that the server can prepare transactions
// (max_prepared_transactions > 0, else ErrPreparedDisabled), creates the
// marker table if missing, and returns a Resource.
func New(ctx context.Context, cfg Config) (*Resource, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	r := &Resource{
		cfg:      cfg,
		pool:     cfg.Pool,
		log:      cfg.Logger.With("participant", cfg.Branch),
		sql:      newMarkerSQL(cfg.MarkerTable),
		now:      time.Now,
		txs:      make(map[string]*txEntry),
		fenced:   make(map[string]time.Time),
		reported: make(map[string]struct{}),
	}
	if err := r.checkServer(ctx); err != nil {
		return nil, err
	}
	if err := r.createMarkerTable(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// RunInTx runs fn in a PostgreSQL transaction bound to the Verdict
// transaction of ctx (participant.TxFromContext: a handler behind
// participant.Server's interceptor), and when fn returns nil, prepares it
// at once (PREPARE TRANSACTION): the connection goes back to the pool, and
// the coordinator's Prepare only confirms. If fn wrote nothing, the
// transaction just ends and this participant votes READ_ONLY.
//
// fn must not end the transaction: Commit and Rollback of the pgx.Tx it is
// given return ErrTxControl (so that a deferred Rollback is harmless);
// return an error to discard the work, which makes this participant vote
// NO unless a later call succeeds. The work runs under the transaction's
// deadline. RunInTx returns fn's error as is, or an error of its own:
// ErrNoTransaction, ErrAborted (the transaction is aborted here, or past
// its deadline), ErrWorkDone (a call under the same transaction is running
// or has prepared its work here), or a failure to prepare.
func (r *Resource) RunInTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, ok := participant.TxFromContext(ctx)
	if !ok {
		return ErrNoTransaction
	}
	return r.run(ctx, tx.ID, tx.Deadline, fn)
}

// rollbackTimeout bounds a rollback made after the caller's context ended.
const rollbackTimeout = 5 * time.Second

func (r *Resource) run(ctx context.Context, id string, deadline time.Time, fn func(tx pgx.Tx) error) error {
	gid, err := makeGID(r.cfg.Prefix, id, r.cfg.Branch)
	if err != nil {
		return err
	}
	quoted, err := QuoteGID(gid)
	if err != nil {
		return err
	}
	e, err := r.claim(id, deadline)
	if err != nil {
		return err
	}
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	// The connection is acquired here, not through pool.BeginTx, because
	// the seal ends the transaction behind the pgx.Tx's back (PREPARE
	// TRANSACTION pipelined with the marker): Release returns it to the
	// pool only if it is idle, and closes it otherwise.
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		r.settle(e, stFailed, "acquire: "+err.Error())
		return fmt.Errorf("verdict/postgres: acquire a connection for %s: %w", gid, err)
	}
	defer conn.Release()
	wt := &workTx{ctx: ctx, conn: conn.Conn()}
	rollback := func() {
		if !wt.begun() {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = wt.tx.Rollback(rctx) // a failed rollback closes the connection, which rolls back
	}
	if err := fn(wt); err != nil {
		rollback()
		r.settle(e, stFailed, "the work failed: "+err.Error())
		return err
	}
	return r.seal(ctx, e, id, gid, quoted, wt, rollback)
}

// seal ends the work of a RunInTx call: unless the transaction was aborted
// meanwhile, it writes the marker and prepares the transaction in one
// round trip, or ends it if it wrote nothing.
func (r *Resource) seal(ctx context.Context, e *txEntry, id, gid, quoted string, wt *workTx, rollback func()) error {
	fail := func(err error) error {
		rollback()
		r.settle(e, stFailed, err.Error())
		return err
	}
	pc := wt.conn.PgConn()
	switch status := pc.TxStatus(); {
	case !wt.begun() && status == 'I':
		// The work ran nothing: no transaction was begun.
	case status == 'T':
	case status == 'E':
		return fail(fmt.Errorf("verdict/postgres: work of %s returned no error but its transaction failed (an SQL error was ignored)", id))
	default:
		return fail(fmt.Errorf("verdict/postgres: work of %s ended its transaction itself: %w", id, ErrTxControl))
	}

	e.seal.Lock()
	defer e.seal.Unlock()
	if r.isFenced(id) {
		return fail(errorf(ErrAborted, "transaction %s was aborted at %s during the work", id, r.cfg.Branch))
	}
	if !e.deadline.IsZero() && !r.now().Before(e.deadline) {
		return fail(errorf(ErrAborted, "transaction %s passed its deadline during the work", id))
	}
	err := errReadOnly // the work ran nothing
	if wt.begun() {
		err = r.markAndPrepare(ctx, pc, gid, id, quoted)
	}
	switch {
	case errors.Is(err, errReadOnly):
		// The work wrote nothing: no marker, nothing prepared.
		rollback()
		r.settle(e, stReadOnly, "")
		r.stats.readOnly.Add(1)
		return nil
	case err == nil:
		r.settle(e, stPrepared, "")
		r.stats.prepared.Add(1)
		return nil
	case isSQLState(err, sqlUniqueViolation):
		// The marker is committed: this transaction committed here
		// before (work after a restart that forgot it).
		return fail(errorf(ErrWorkDone, "transaction %s is committed at %s", id, r.cfg.Branch))
	case isSQLState(err, sqlDuplicateObject, sqlLockNotAvail):
		// An earlier call's work is prepared under this gid (this
		// process restarted since and forgot it); it stays, this work
		// is discarded.
		rollback()
		r.settle(e, stUncertain, "")
		return errorf(ErrWorkDone, "transaction %s is already prepared at %s", id, r.cfg.Branch)
	case pc.TxStatus() == 'E':
		// The server refused the marker or the prepare: nothing is
		// prepared.
		return fail(fmt.Errorf("verdict/postgres: prepare %s: %w", gid, err))
	}
	// The outcome is unknown (the connection may have failed after the
	// server prepared): Prepare and Abort ask the server.
	rollback()
	r.settle(e, stUncertain, "")
	return fmt.Errorf("verdict/postgres: prepare %s: %w", gid, err)
}

// markerLockTimeout bounds the marker insert's wait for a lock. The only
// row it can wait for is its own gid's marker, written by earlier work of
// the same transaction that is prepared (and forgotten by a restart of
// this process) or being prepared: waiting for it would last until that
// transaction is resolved.
const markerLockTimeout = "SET LOCAL lock_timeout = '200ms'"

// wroteSomething fails, with division_by_zero (22012), unless the work
// wrote something (it holds a transaction id). It is not a constant
// expression, so the planner cannot fold it away.
const wroteSomething = "SELECT 1 / (pg_current_xact_id_if_assigned() IS NOT NULL)::int"

// errReadOnly is markAndPrepare's report that the work wrote nothing:
// nothing was marked or prepared, and the transaction is in the failed
// state, to be rolled back.
var errReadOnly = errors.New("verdict/postgres: the work wrote nothing")

// markAndPrepare sends, in one pipeline (one round trip, one Sync, so that
// the server skips the rest after a failure): the marker's lock timeout,
// the check that the work wrote something, the marker insert and PREPARE
// TRANSACTION. It returns errReadOnly if the work wrote nothing.
func (r *Resource) markAndPrepare(ctx context.Context, pc *pgconn.PgConn, gid, id, quoted string) error {
	b := &pgconn.Batch{}
	b.ExecParams(markerLockTimeout, nil, nil, nil, nil)
	b.ExecParams(wroteSomething, nil, nil, nil, nil)
	b.ExecParams(r.sql.insert, [][]byte{[]byte(gid), []byte(id), []byte(r.cfg.Branch)}, nil, nil, nil)
	b.ExecParams("PREPARE TRANSACTION "+quoted, nil, nil, nil, nil)
	results, err := pc.ExecBatch(ctx, b).ReadAll()
	if len(results) >= 2 && isSQLState(results[1].Err, sqlDivisionByZero) {
		return errReadOnly
	}
	if err != nil {
		return err
	}
	for _, res := range results {
		if res.Err != nil {
			return res.Err
		}
	}
	if len(results) != 4 || results[2].CommandTag.RowsAffected() != 1 {
		return fmt.Errorf("verdict/postgres: prepare %s: unexpected results %v", gid, results)
	}
	return nil
}

// Prepare confirms the vote of RunInTx's work under txid: YES if it is
// prepared (by this process, or found in pg_prepared_xacts after a
// restart), READ_ONLY if it wrote nothing, NO if it failed, is still
// running, was aborted here, or was never done (or was lost with a crash
// before it was prepared).
func (r *Resource) Prepare(ctx context.Context, id string) (participant.Vote, error) {
	gid, err := makeGID(r.cfg.Prefix, id, r.cfg.Branch)
	if err != nil {
		return participant.VoteNo, err
	}
	if r.isFenced(id) {
		return participant.VoteNo, errorf(ErrAborted, "transaction %s is aborted at %s", id, r.cfg.Branch)
	}
	_, state, reason := r.lookup(id)
	switch state {
	case stPrepared:
		return participant.VoteYes, nil
	case stReadOnly:
		r.forget(id)
		return participant.VoteReadOnly, nil
	case stFailed:
		return participant.VoteNo, fmt.Errorf("verdict/postgres: transaction %s at %s: %s", id, r.cfg.Branch, reason)
	case stWorking:
		return participant.VoteNo, fmt.Errorf("verdict/postgres: transaction %s at %s: work still running at Prepare", id, r.cfg.Branch)
	}
	// Unknown here (never done, or done before a restart) or uncertain:
	// PostgreSQL knows.
	ok, err := r.isPrepared(ctx, gid)
	if err != nil {
		return participant.VoteNo, err
	}
	if !ok {
		return participant.VoteNo, fmt.Errorf("verdict/postgres: transaction %s has no prepared work at %s (never done, failed, or lost in a restart before it was prepared)", id, r.cfg.Branch)
	}
	r.setPrepared(id)
	return participant.VoteYes, nil
}

// isPrepared reports whether gid is prepared in this database.
func (r *Resource) isPrepared(ctx context.Context, gid string) (bool, error) {
	var ok bool
	err := r.pool.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database())`, gid).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("verdict/postgres: look up prepared %s: %w", gid, err)
	}
	return ok, nil
}

// Commit commits the prepared work of txid (COMMIT PREPARED). It is
// idempotent: if the gid is gone and its marker is there, it committed
// before. If the gid is gone and so is its marker, it was rolled back
// behind this Resource's back: Commit reports a *HeuristicError (see
// there). A read-only transaction has nothing to commit.
func (r *Resource) Commit(ctx context.Context, id string) error {
	gid, err := makeGID(r.cfg.Prefix, id, r.cfg.Branch)
	if err != nil {
		return err
	}
	quoted, err := QuoteGID(gid)
	if err != nil {
		return err
	}
	if e, state, _ := r.lookup(id); e != nil {
		if state == stReadOnly {
			r.forget(id)
			return nil
		}
		e.seal.Lock()
		defer e.seal.Unlock()
	}
	_, err = r.pool.Exec(ctx, "COMMIT PREPARED "+quoted)
	switch {
	case err == nil:
		r.forget(id)
		r.stats.committed.Add(1)
		r.maybeClean(ctx)
		return nil
	case isSQLState(err, sqlUndefinedObject):
		committed, err := r.markerExists(ctx, gid)
		if err != nil {
			return err
		}
		if !committed {
			return r.heuristic(ctx, id, gid, "commit", HeuristicRollback)
		}
		r.forget(id)
		return nil
	}
	return fmt.Errorf("verdict/postgres: commit prepared %s: %w", gid, err)
}

// Abort discards the work of txid and fences it: later RunInTx calls and
// Prepare for it are refused, and work running now is rolled back instead
// of prepared. Prepared work is rolled back (ROLLBACK PREPARED). It is
// idempotent and succeeds for a transaction it does not know; if the gid
// is gone but its marker is there, the transaction was committed behind
// this Resource's back: Abort reports a *HeuristicError.
func (r *Resource) Abort(ctx context.Context, id string) error {
	gid, err := makeGID(r.cfg.Prefix, id, r.cfg.Branch)
	if err != nil {
		return err
	}
	quoted, err := QuoteGID(gid)
	if err != nil {
		return err
	}
	if e := r.fence(id); e != nil {
		// Wait for a seal in progress; a seal not begun yet sees the
		// fence and rolls back.
		e.seal.Lock()
		defer e.seal.Unlock()
		switch r.stateOf(e) {
		case stWorking, stReadOnly, stFailed:
			return nil // nothing prepared
		}
	}
	_, err = r.pool.Exec(ctx, "ROLLBACK PREPARED "+quoted)
	switch {
	case err == nil:
		r.stats.aborted.Add(1)
		return nil
	case isSQLState(err, sqlUndefinedObject):
		committed, err := r.markerExists(ctx, gid)
		if err != nil {
			return err
		}
		if committed {
			return r.heuristic(ctx, id, gid, "abort", HeuristicCommit)
		}
		return nil
	}
	return fmt.Errorf("verdict/postgres: rollback prepared %s: %w", gid, err)
}

// Prepared lists the transactions this branch holds prepared in this
// database (pg_prepared_xacts, by gid prefix and branch), sorted, for
// participant.Server's recovery loop.
func (r *Resource) Prepared(ctx context.Context) ([]string, error) {
	rows, err := r.pool.Query(ctx,
		`SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND starts_with(gid, $1)`,
		r.cfg.Prefix+gidSep)
	if err != nil {
		return nil, fmt.Errorf("verdict/postgres: list prepared transactions: %w", err)
	}
	gids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("verdict/postgres: list prepared transactions: %w", err)
	}
	var ids []string
	for _, gid := range gids {
		if id, ok := parseGID(gid, r.cfg.Prefix, r.cfg.Branch); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Stats are counts of what a Resource did since New.
type Stats struct {
	Prepared  uint64 // work prepared by RunInTx
	ReadOnly  uint64 // RunInTx calls that wrote nothing
	Committed uint64 // COMMIT PREPARED done
	Aborted   uint64 // ROLLBACK PREPARED done
	Heuristic uint64 // heuristic outcomes found (once per transaction)
}

// Stats returns the Resource's counts.
func (r *Resource) Stats() Stats {
	return Stats{
		Prepared:  r.stats.prepared.Load(),
		ReadOnly:  r.stats.readOnly.Load(),
		Committed: r.stats.committed.Load(),
		Aborted:   r.stats.aborted.Load(),
		Heuristic: r.stats.heuristic.Load(),
	}
}
