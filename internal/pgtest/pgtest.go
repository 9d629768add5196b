// Package pgtest gives tests PostgreSQL databases of their own on the
// server named by VERDICT_TEST_PG_DSN (default: the local server's database
// test). Each database gets a name no other run uses (a prefix and a random
// suffix), so that runs against one server do not disturb each other, and
// is dropped when the test ends. Without a reachable server the test skips,
// unless VERDICT_REQUIRE_SERVICES=1, where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultDSN is the server used when VERDICT_TEST_PG_DSN is unset.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// prefixes are plain lower-case identifiers, short enough that the name
// with its suffix fits PostgreSQL's 63 bytes.
var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// DSN is the admin server's DSN: VERDICT_TEST_PG_DSN, or DefaultDSN.
func DSN() string {
	if dsn := os.Getenv("VERDICT_TEST_PG_DSN"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// UniqueName returns prefix_<16 random hex digits>: a database name no
// other call, in this run or another, returns. prefix must be a plain
// lower-case identifier of at most 40 bytes.
func UniqueName(prefix string) string {
	if !prefixPattern.MatchString(prefix) {
		panic("pgtest: database prefix " + prefix + " is not a plain lower-case identifier of at most 40 bytes")
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("pgtest: " + err.Error())
	}
	return prefix + "_" + hex.EncodeToString(b[:])
}

// DatabaseName returns a UniqueName for prefix and drops the database of
// that name, if anything created it, when t ends (rolling back its prepared
// transactions first, which would block the drop). It skips t when the
// server is unreachable.
func DatabaseName(t *testing.T, prefix string) string {
	t.Helper()
	admin := connect(t)
	admin.Close()
	name := UniqueName(prefix)
	t.Cleanup(func() { drop(t, name) })
	return name
}

// NewDatabase creates a database named DatabaseName(t, prefix) and returns
// a pool on it with at most maxConns connections; the pool is closed and
// the database dropped when t ends.
func NewDatabase(t *testing.T, ctx context.Context, prefix string, maxConns int32) *pgxpool.Pool {
	t.Helper()
	name := DatabaseName(t, prefix)
	admin := connect(t)
	defer admin.Close()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	cfg := admin.Config().Copy()
	cfg.ConnConfig.Database = name
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // runs before the drop
	return pool
}

// connect returns a pool on the admin server, or skips (or fails) t.
func connect(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dsn := DSN()
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
	return admin
}

// drop rolls back the prepared transactions of database name and drops it
// (if it exists). Errors are reported, not fatal: the test is over.
func drop(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgxpool.New(ctx, DSN())
	if err != nil {
		t.Errorf("pgtest: drop %s: %v", name, err)
		return
	}
	defer admin.Close()
	rows, err := admin.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE database = $1", name)
	if err != nil {
		t.Errorf("pgtest: drop %s: %v", name, err)
		return
	}
	gids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Errorf("pgtest: drop %s: %v", name, err)
		return
	}
	if len(gids) > 0 {
		cfg := admin.Config().Copy()
		cfg.ConnConfig.Database = name
		conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
		if err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		for _, g := range gids {
			if _, err := conn.Exec(ctx, "ROLLBACK PREPARED '"+g+"'"); err != nil {
				t.Errorf("pgtest: drop %s: rollback prepared %s: %v", name, g, err)
			}
		}
		conn.Close(ctx)
	}
	// FORCE ends the sessions of anything the test left running (a
	// participant stopped mid-call): the database is this test's alone.
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: drop %s: %v", name, err)
	}
}
