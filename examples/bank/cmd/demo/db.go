package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// errUnreachable marks a server the demo cannot reach, so that its test
// can tell "no PostgreSQL here" from a failure of the demo.
var errUnreachable = errors.New("PostgreSQL unreachable")

// connectAdmin opens a small pool on the server --dsn names and checks
// that it can prepare transactions, before anything is created there; it
// returns the pool and the server's max_prepared_transactions.
func connectAdmin(ctx context.Context, dsn string) (*pgxpool.Pool, int, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, 0, fmt.Errorf("--dsn: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("--dsn: %w", err)
	}
	n, err := checkServer(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, 0, err
	}
	return pool, n, nil
}

func checkServer(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	where := serverName(pool)
	if err := pool.Ping(ctx); err != nil {
		return 0, fmt.Errorf("%w at %s: %v\n"+
			"  start PostgreSQL there (user postgres, trust auth, database test), or name another server with --dsn", errUnreachable, where, err)
	}
	var setting string
	if err := pool.QueryRow(ctx, "SHOW max_prepared_transactions").Scan(&setting); err != nil {
		return 0, fmt.Errorf("read max_prepared_transactions at %s: %w", where, err)
	}
	n, err := checkMaxPrepared(setting, where, pool.Config().ConnConfig)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// checkMaxPrepared reads the server's max_prepared_transactions, as SHOW
// gives it, and says how to fix a server that cannot prepare.
func checkMaxPrepared(setting, where string, c *pgx.ConnConfig) (int, error) {
	n, err := strconv.Atoi(setting)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("max_prepared_transactions is %q at %s: PostgreSQL cannot prepare transactions, which two-phase commit needs\n"+
			"  fix: psql -h %s -p %d -U %s -c 'ALTER SYSTEM SET max_prepared_transactions = 100', then restart PostgreSQL",
			setting, where, c.Host, c.Port, c.User)
	}
	return n, nil
}

// serverName names the server without the DSN's password.
func serverName(pool *pgxpool.Pool) string {
	c := pool.Config().ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// uniqueName is prefix_<16 random hex digits>: no other run, at once or
// before, uses it, so that demos and tests on one server never meet.
func uniqueName(prefix string) string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return prefix + "_" + hex.EncodeToString(b[:])
}

// createDatabase creates name on admin's server and returns a pool on it.
func createDatabase(ctx context.Context, admin *pgxpool.Pool, name string) (*pgxpool.Pool, error) {
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	cfg := admin.Config().Copy()
	cfg.ConnConfig.Database = name
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pool on database %s: %w", name, err)
	}
	return pool, nil
}

// dropDatabase rolls back what is still prepared in database name (a
// prepared transaction would block the drop: there is one only if the demo
// was interrupted) and drops it. FORCE ends sessions a stopped service may
// have left: the database is the demo's alone.
func dropDatabase(ctx context.Context, admin *pgxpool.Pool, name string) error {
	gids, err := preparedGIDs(ctx, admin, name)
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	if len(gids) > 0 {
		if err := rollbackPrepared(ctx, admin, name, gids); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// rollbackPrepared must run in database name: a prepared transaction is
// finished only from a session on its own database.
func rollbackPrepared(ctx context.Context, admin *pgxpool.Pool, name string, gids []string) error {
	cfg := admin.Config().ConnConfig.Copy()
	cfg.Database = name
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, g := range gids {
		// A gid cannot be a bind parameter; participant/postgres makes
		// gids of characters that need no quoting.
		if _, err := conn.Exec(ctx, "ROLLBACK PREPARED '"+g+"'"); err != nil {
			return fmt.Errorf("rollback prepared %s: %w", g, err)
		}
	}
	return nil
}

// preparedGIDs lists the transactions prepared in database name.
func preparedGIDs(ctx context.Context, admin *pgxpool.Pool, name string) ([]string, error) {
	rows, err := admin.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE database = $1 ORDER BY gid", name)
	if err != nil {
		return nil, fmt.Errorf("read pg_prepared_xacts of %s: %w", name, err)
	}
	gids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read pg_prepared_xacts of %s: %w", name, err)
	}
	return gids, nil
}

// balance is one account's row.
type balance struct {
	ID      string
	Balance int64
}

func balances(ctx context.Context, pool *pgxpool.Pool) ([]balance, error) {
	rows, err := pool.Query(ctx, "SELECT id, balance FROM accounts ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("read balances of %s: %w", pool.Config().ConnConfig.Database, err)
	}
	bs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[balance])
	if err != nil {
		return nil, fmt.Errorf("read balances of %s: %w", pool.Config().ConnConfig.Database, err)
	}
	return bs, nil
}

func balanceOf(ctx context.Context, pool *pgxpool.Pool, account string) (int64, error) {
	var b int64
	if err := pool.QueryRow(ctx, "SELECT balance FROM accounts WHERE id = $1", account).Scan(&b); err != nil {
		return 0, fmt.Errorf("read balance of %s in %s: %w", account, pool.Config().ConnConfig.Database, err)
	}
	return b, nil
}
