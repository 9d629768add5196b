package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// workTx is the pgx.Tx handed to RunInTx's work function. It begins the
// PostgreSQL transaction lazily: the work's first Exec, Query or QueryRow
// with arguments goes in one pipeline with BEGIN (pgx's Batch.BeginTx), so
// a call whose work is one statement costs one round trip, not two. Any
// other first use (a statement without arguments, a batch, COPY, Prepare,
// a savepoint, Conn, LargeObjects) begins first, as Conn.Begin would.
//
// Commit and Rollback refuse (ErrTxControl): the Resource ends the
// transaction, by preparing it. A workTx is not safe for concurrent use,
// like any pgx.Tx.
type workTx struct {
	// ctx is the RunInTx call's context, for Conn and LargeObjects, which
	// take none.
	ctx  context.Context
	conn *pgx.Conn
	tx   pgx.Tx // nil until begun
}

var _ pgx.Tx = (*workTx)(nil)

// begun reports whether the work began the transaction (ran anything).
func (t *workTx) begun() bool { return t.tx != nil }

// begin begins the transaction if the work has not yet. If BEGIN fails, the
// workTx holds a closed transaction, whose methods return pgx.ErrTxClosed:
// nothing the work does later can run outside a transaction.
func (t *workTx) begin(ctx context.Context) (pgx.Tx, error) {
	if t.tx != nil {
		return t.tx, nil
	}
	tx, err := t.conn.Begin(ctx)
	if err != nil {
		t.tx = closedTx(err)
		return nil, err
	}
	t.tx = tx
	return tx, nil
}

// closedTx returns a pgx.Tx that is already closed.
func closedTx(err error) pgx.Tx {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	return pgx.FailedBatchResults(b, err).Tx()
}

// pipelines reports whether a first statement with args can go in one
// pipeline with BEGIN: it has arguments (pgx sends a statement without
// them by the simple protocol, which a batch does not) and no option that
// a batch does not take.
func pipelines(args []any) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0].(type) {
	case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
		return false
	}
	return true
}

// beginWith sends BEGIN and the statement in one pipeline and reads
// BEGIN's result; the caller reads the statement's and closes br.
func (t *workTx) beginWith(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(sql, args...)
	br := t.conn.SendBatch(ctx, b)
	t.tx = br.Tx()
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, err
	}
	return br, nil
}

func (t *workTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.tx != nil || !pipelines(args) {
		tx, err := t.begin(ctx)
		if err != nil {
			return pgconn.CommandTag{}, err
		}
		return tx.Exec(ctx, sql, args...)
	}
	br, err := t.beginWith(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *workTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.tx != nil || !pipelines(args) {
		tx, err := t.begin(ctx)
		if err != nil {
			return nil, err
		}
		return tx.Query(ctx, sql, args...)
	}
	br, err := t.beginWith(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *workTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	return &row{rows: rows, err: err}
}

func (t *workTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	tx, err := t.begin(ctx)
	if err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return tx.SendBatch(ctx, b)
}

func (t *workTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	return tx.CopyFrom(ctx, table, columns, src)
}

func (t *workTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Prepare(ctx, name, sql)
}

// Begin starts a pseudo nested transaction (a savepoint) in the work's
// transaction.
func (t *workTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Begin(ctx)
}

func (t *workTx) LargeObjects() pgx.LargeObjects {
	_, _ = t.begin(t.ctx) // on failure, a closed transaction's
	return t.tx.LargeObjects()
}

// Conn returns the connection, with the transaction begun: whatever the
// work runs on it is part of the transaction. If BEGIN fails, the
// connection is closed, so that nothing runs outside the transaction.
func (t *workTx) Conn() *pgx.Conn {
	if _, err := t.begin(t.ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), rollbackTimeout)
		defer cancel()
		_ = t.conn.Close(cctx)
	}
	return t.conn
}

// Commit refuses: RunInTx prepares the transaction when the work returns.
func (*workTx) Commit(context.Context) error { return ErrTxControl }

// Rollback refuses: return an error from the work function to discard the
// work.
func (*workTx) Rollback(context.Context) error { return ErrTxControl }

// batchRows are the rows of a statement sent in one pipeline with BEGIN:
// closing them (or reading them to the end) closes the batch, which frees
// the connection.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error // of closing the batch
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.err = r.br.Close()
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// row is QueryRow's pgx.Row, with pgx's semantics: Scan reads the first
// row, pgx.ErrNoRows if there is none, and closes the rows.
type row struct {
	rows pgx.Rows
	err  error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
