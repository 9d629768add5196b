package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The marker table holds one row per transaction this package prepared,
// written inside the prepared transaction itself: it commits with it and
// vanishes with a rollback. When COMMIT PREPARED or ROLLBACK PREPARED
// answers that the gid does not exist, the marker tells what became of it:
// present, it committed; absent, it rolled back (or never prepared).
//
// Cleanup: a marker row is needed only while the coordinator may still
// redeliver the transaction's Commit, so rows older than
// Config.MarkerRetention (counted from the start of the work) are deleted
// lazily, in batches of cleanBatch, by a Commit at most every
// Config.CleanInterval, and by CleanMarkers.

// cleanBatch bounds the rows one cleanup deletes.
const cleanBatch = 1000

// markerSQL holds the statements on the marker table, its name spliced in
// once (validated, and quoted).
type markerSQL struct {
	table, indexName                     string // as to_regclass reads them
	create, index, insert, exists, clean string
}

func newMarkerSQL(table string) markerSQL {
	t := pgx.Identifier{table}.Sanitize()
	idx := pgx.Identifier{table + "_branch_prepared_at"}.Sanitize()
	return markerSQL{
		table:     t,
		indexName: idx,
		create: `CREATE TABLE IF NOT EXISTS ` + t + ` (
	gid text PRIMARY KEY,
	txid text NOT NULL,
	branch text NOT NULL,
	prepared_at timestamptz NOT NULL DEFAULT now())`,
		index: `CREATE INDEX IF NOT EXISTS ` + idx + ` ON ` + t + ` (branch, prepared_at)`,
		// The row is inserted only if the work wrote something (it holds
		// a transaction id); RunInTx checks that first (wroteSomething).
		insert: `INSERT INTO ` + t + ` (gid, txid, branch)
	SELECT $1, $2, $3 WHERE pg_current_xact_id_if_assigned() IS NOT NULL`,
		exists: `SELECT EXISTS (SELECT 1 FROM ` + t + ` WHERE gid = $1)`,
		clean: `DELETE FROM ` + t + ` WHERE gid IN (
	SELECT gid FROM ` + t + ` WHERE branch = $1 AND prepared_at < now() - make_interval(secs => $2) LIMIT $3)`,
	}
}

// createMarkerTable creates the marker table and its index if missing. It
// looks them up first: CREATE INDEX IF NOT EXISTS locks the table before it
// finds the index, and would wait for every transaction held prepared with
// a marker row, which is exactly what a restarted participant has. Two
// processes creating them at once may collide in the catalog; the loser
// finds them created.
func (r *Resource) createMarkerTable(ctx context.Context) error {
	for _, q := range []struct{ name, create string }{{r.sql.table, r.sql.create}, {r.sql.indexName, r.sql.index}} {
		var exists bool
		if err := r.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", q.name).Scan(&exists); err != nil {
			return fmt.Errorf("verdict/postgres: look up marker table %s: %w", r.cfg.MarkerTable, err)
		}
		if exists {
			continue
		}
		if _, err := r.pool.Exec(ctx, q.create); err != nil && !isSQLState(err, sqlUniqueViolation, sqlDuplicateTable) {
			return fmt.Errorf("verdict/postgres: create marker table %s: %w", r.cfg.MarkerTable, err)
		}
	}
	return nil
}

// markerExists reports whether gid's marker row is committed.
func (r *Resource) markerExists(ctx context.Context, gid string) (bool, error) {
	return lookUpMarker(ctx, r.pool, r.sql.exists, gid)
}

// RowQuerier runs a query that returns one row: a *pgx.Conn, a
// *pgxpool.Pool or a pgx.Tx.
type RowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// MarkerExists reports whether the marker table (Config.MarkerTable; ""
// means DefaultMarkerTable) of the database db is connected to holds the
// committed marker row of gid. For a gid that COMMIT PREPARED or ROLLBACK
// PREPARED no longer finds (see IsGIDGone), it tells how the transaction
// ended: present, it committed; absent, it rolled back. An operator's tool
// resolving prepared transactions by hand uses it as this package does.
func MarkerExists(ctx context.Context, db RowQuerier, table, gid string) (bool, error) {
	if table == "" {
		table = DefaultMarkerTable
	}
	if err := CheckMarkerTable(table); err != nil {
		return false, err
	}
	return lookUpMarker(ctx, db, newMarkerSQL(table).exists, gid)
}

// lookUpMarker runs exists, a markerSQL's, for gid over db.
func lookUpMarker(ctx context.Context, db RowQuerier, exists, gid string) (bool, error) {
	var ok bool
	if err := db.QueryRow(ctx, exists, gid).Scan(&ok); err != nil {
		return false, fmt.Errorf("verdict/postgres: look up marker of %s: %w", gid, err)
	}
	return ok, nil
}

// IsGIDGone reports whether err is COMMIT PREPARED's or ROLLBACK
// PREPARED's answer that the gid does not exist (SQLSTATE 42704): the
// transaction was resolved already, one way or the other (MarkerExists
// tells which).
func IsGIDGone(err error) bool { return isSQLState(err, sqlUndefinedObject) }

// CleanMarkers deletes up to one batch (1000) of this branch's marker rows
// older than Config.MarkerRetention and returns how many it deleted.
// Commit calls it every Config.CleanInterval; call it in a loop to clean
// more at once.
func (r *Resource) CleanMarkers(ctx context.Context) (int64, error) {
	tag, err := r.pool.Exec(ctx, r.sql.clean, r.cfg.Branch, r.cfg.MarkerRetention.Seconds(), cleanBatch)
	if err != nil {
		return 0, fmt.Errorf("verdict/postgres: clean markers: %w", err)
	}
	return tag.RowsAffected(), nil
}

// maybeClean runs CleanMarkers if the last run is older than
// Config.CleanInterval and no other is running. A failure is logged; the
// next Commit after the interval tries again.
func (r *Resource) maybeClean(ctx context.Context) {
	now := time.Now()
	r.mu.Lock()
	if r.cleaning || now.Before(r.nextClean) {
		r.mu.Unlock()
		return
	}
	r.cleaning = true
	r.nextClean = now.Add(r.cfg.CleanInterval)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.cleaning = false
		r.mu.Unlock()
	}()
	n, err := r.CleanMarkers(ctx)
	if err != nil {
		r.log.WarnContext(ctx, "verdict: marker cleanup failed", "err", err)
		return
	}
	if n > 0 {
		r.log.DebugContext(ctx, "verdict: old markers deleted", "rows", n)
	}
}

// SQLSTATEs this package tells apart.
const (
	sqlUndefinedObject = "42704" // COMMIT/ROLLBACK PREPARED: no such gid
	sqlDuplicateObject = "42710" // PREPARE TRANSACTION: gid in use
	sqlObjectInUse     = "55006" // COMMIT/ROLLBACK PREPARED: gid busy in another session
	sqlUniqueViolation = "23505"
	sqlLockNotAvail    = "55P03" // lock_timeout: the marker insert waited
	sqlDivisionByZero  = "22012" // wroteSomething: the work wrote nothing
	sqlDuplicateTable  = "42P07"
)

func isSQLState(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}
