package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/verdict-tx/verdict/participant/postgres"
)

// The PostgreSQL scenarios use two databases, one per participant, each
// with the same rows: one per worker, or Config.Rows (see there).
const (
	pgRowsTable = "verdict_bench_rows"
	// floorGIDPrefix marks the prepared transactions of the floor scenario.
	floorGIDPrefix = "vbench-floor-"
)

// DefaultPGDatabases are the databases the PostgreSQL scenarios create (if
// missing) next to the admin DSN's database when Config.PGDatabases names
// none.
var DefaultPGDatabases = []string{"verdict_bench_a", "verdict_bench_b"}

// pgDatabaseName is what a database name may be: it is put in SQL as it is.
var pgDatabaseName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// preparePG fills in the PostgreSQL scenarios' part of c: the default
// databases, and one participant per database.
func (c *Config) preparePG() error {
	if len(c.PGDatabases) == 0 {
		c.PGDatabases = DefaultPGDatabases
	}
	if err := CheckPGDatabases(c.PGDatabases); err != nil {
		return err
	}
	c.Participants = len(c.PGDatabases)
	return nil
}

// CheckPGDatabases reports whether dbs can be the PostgreSQL scenarios'
// databases: two distinct plain lower-case names.
func CheckPGDatabases(dbs []string) error {
	if len(dbs) != 2 || dbs[0] == dbs[1] {
		return fmt.Errorf("bench: the pg scenarios take two distinct databases, not %q", dbs)
	}
	for _, db := range dbs {
		if !pgDatabaseName.MatchString(db) {
			return fmt.Errorf("bench: database name %q: want 1-63 characters of [a-z0-9_], not starting with a digit", db)
		}
	}
	return nil
}

// rowPicker returns worker i's choice of the row each of its transactions
// updates (Config.Rows).
func (c *Config) rowPicker(i int) func() int {
	if c.Rows == 0 {
		return func() int { return i }
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
	return func() int { return r.IntN(c.Rows) }
}

// openPG creates the scenario databases and tables if needed and returns a
// pool per database, each with room for every worker.
func openPG(ctx context.Context, adminDSN string, cfg Config) ([]*pgxpool.Pool, error) {
	workers, rows := cfg.Concurrency, max(cfg.Concurrency, cfg.Rows)
	admin, err := pgxpool.New(ctx, adminDSN)
	if err != nil {
		return nil, fmt.Errorf("bench: postgres: %w", err)
	}
	defer admin.Close()
	var pools []*pgxpool.Pool
	fail := func(err error) ([]*pgxpool.Pool, error) {
		closePools(pools)
		return nil, err
	}
	for _, db := range cfg.PGDatabases {
		_, err := admin.Exec(ctx, "CREATE DATABASE "+db)
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database
			return fail(fmt.Errorf("bench: create database %s: %w", db, err))
		}
		cfg := admin.Config().Copy()
		cfg.ConnConfig.Database = db
		cfg.MaxConns = int32(workers + 4)
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return fail(fmt.Errorf("bench: postgres %s: %w", db, err))
		}
		pools = append(pools, pool)
		if _, err := pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+pgRowsTable+" (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)"); err != nil {
			return fail(fmt.Errorf("bench: %s: %w", db, err))
		}
		if _, err := pool.Exec(ctx, "INSERT INTO "+pgRowsTable+" (id) SELECT generate_series(0, $1::int - 1) ON CONFLICT DO NOTHING", rows); err != nil {
			return fail(fmt.Errorf("bench: %s: %w", db, err))
		}
		if _, err := rollbackPrepared(ctx, pool, floorGIDPrefix); err != nil {
			return fail(err)
		}
	}
	return pools, nil
}

func closePools(pools []*pgxpool.Pool) {
	for _, p := range pools {
		p.Close()
	}
}

// rollbackPrepared rolls back this database's prepared transactions whose
// gid starts with prefix (left by an interrupted run) and returns how many
// there were.
func rollbackPrepared(ctx context.Context, pool *pgxpool.Pool, prefix string) (int, error) {
	rows, err := pool.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND starts_with(gid, $1)", prefix)
	if err != nil {
		return 0, fmt.Errorf("bench: list prepared transactions: %w", err)
	}
	var gids []string
	for rows.Next() {
		var gid string
		if err := rows.Scan(&gid); err != nil {
			return 0, err
		}
		gids = append(gids, gid)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, gid := range gids {
		if _, err := pool.Exec(ctx, "ROLLBACK PREPARED '"+gid+"'"); err != nil {
			return len(gids), fmt.Errorf("bench: rollback prepared %s: %w", gid, err)
		}
	}
	return len(gids), nil
}

// RunPGFloor is the floor of the PostgreSQL scenario: the same work with no
// coordinator. Each transaction updates its worker's row in each database
// and prepares it there (BEGIN, UPDATE, PREPARE TRANSACTION: what a
// participant does when its call ends), then commits both prepared
// transactions in parallel (COMMIT PREPARED). cfg.Endpoints and
// cfg.Participants are ignored.
func RunPGFloor(ctx context.Context, cfg Config, adminDSN string) (*Result, error) {
	cfg.Endpoints = []string{"-"} // no coordinator
	if err := cfg.preparePG(); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pools, err := openPG(ctx, adminDSN, cfg)
	if err != nil {
		return nil, err
	}
	defer closePools(pools)
	for _, p := range pools {
		if err := postgres.CheckPrepared(ctx, p); err != nil {
			return nil, err // every transaction would fail: say why now
		}
	}
	workers, elapsed := runWorkers(ctx, cfg, func(i int) txFunc {
		row := cfg.rowPicker(i)
		return func(ctx context.Context) (time.Time, error) { return floorTx(ctx, pools, row()) }
	})
	res := &Result{Concurrency: cfg.Concurrency, Participants: len(pools)}
	res.collect(workers, elapsed)
	// Nothing may stay prepared: count (and clear) what a failed
	// transaction left.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, p := range pools {
		n, err := rollbackPrepared(cctx, p, floorGIDPrefix)
		res.Unresolved += n
		if err != nil {
			return res, err
		}
	}
	return res, ctx.Err()
}

// floorTx runs one floor transaction on row id. A gid names a
// prepared transaction in the whole PostgreSQL server, not one database, so
// each database's branch has its own.
func floorTx(ctx context.Context, pools []*pgxpool.Pool, id int) (time.Time, error) {
	base := floorGIDPrefix + uuid.NewString()
	gids := make([]string, len(pools))
	for i, pool := range pools {
		gids[i] = fmt.Sprintf("%s-%d", base, i)
		if err := prepareRow(ctx, pool, id, gids[i]); err != nil {
			for j := range i {
				_, _ = pools[j].Exec(context.WithoutCancel(ctx), "ROLLBACK PREPARED '"+gids[j]+"'")
			}
			return time.Now(), err
		}
	}
	commitStart := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(pools))
	for i, pool := range pools[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i+1] = pool.Exec(ctx, "COMMIT PREPARED '"+gids[i+1]+"'")
		}()
	}
	_, errs[0] = pools[0].Exec(ctx, "COMMIT PREPARED '"+gids[0]+"'")
	wg.Wait()
	return commitStart, errors.Join(errs...)
}

// prepareRow updates row id and prepares the transaction as gid, on one
// connection of pool.
func prepareRow(ctx context.Context, pool *pgxpool.Pool, id int, gid string) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "UPDATE "+pgRowsTable+" SET n = n + 1 WHERE id = $1", id); err != nil {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	if _, err := conn.Exec(ctx, "PREPARE TRANSACTION '"+gid+"'"); err != nil {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	return nil
}
