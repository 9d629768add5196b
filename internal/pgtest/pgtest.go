// Package pgtest gives tests a fresh PostgreSQL database of their own on
// the server named by VERDICT_TEST_PG_DSN (default: the local server's
// database test). Without a reachable server the test skips, unless
// VERDICT_REQUIRE_SERVICES=1, where it fails.
package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultDSN is the server used when VERDICT_TEST_PG_DSN is unset.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// FreshDB drops the database name (first rolling back the prepared
// transactions an earlier run left in it, which would block the drop),
// creates it again, and returns a pool on it with at most maxConns
// connections, closed when the test ends. name must be a plain
// lower-case identifier.
func FreshDB(t *testing.T, ctx context.Context, name string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	dsn := os.Getenv("VERDICT_TEST_PG_DSN")
	if dsn == "" {
		dsn = DefaultDSN
	}
	admin, err := pgxpool.New(ctx, dsn)
	if err == nil {
		if err = admin.Ping(ctx); err != nil {
			admin.Close()
		}
	}
	if err != nil {
		if os.Getenv("VERDICT_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PostgreSQL at %s is required (VERDICT_REQUIRE_SERVICES=1): %v", dsn, err)
		}
		t.Skipf("PostgreSQL unreachable at %s (set VERDICT_TEST_PG_DSN), skipping: %v", dsn, err)
	}
	defer admin.Close()
	rows, err := admin.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE database = $1", name)
	if err != nil {
		t.Fatal(err)
	}
	gids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	cfg := admin.Config().Copy()
	cfg.ConnConfig.Database = name
	if len(gids) > 0 {
		old, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gids {
			if _, err := old.Exec(ctx, "ROLLBACK PREPARED '"+g+"'"); err != nil {
				t.Fatal(err)
			}
		}
		old.Close()
	}
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
