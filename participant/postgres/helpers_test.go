package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/verdict-tx/verdict/internal/txid"
)

// These tests run against a real PostgreSQL, named by VERDICT_TEST_PG_DSN.
// Without one they skip, unless VERDICT_REQUIRE_SERVICES=1, which makes
// them fail. Each test has its own tables, gid prefix and branch, and rolls
// back the prepared transactions it leaves.

const defaultTestDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func testDSN() string {
	if dsn := os.Getenv("VERDICT_TEST_PG_DSN"); dsn != "" {
		return dsn
	}
	return defaultTestDSN
}

func testLogger() *slog.Logger {
	if os.Getenv("VERDICT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openPool connects to the test database, or skips the test (fails it
// under VERDICT_REQUIRE_SERVICES=1) when it is unreachable.
func openPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, testDSN())
	if err == nil {
		err = pool.Ping(ctx)
		if err != nil {
			pool.Close()
		}
	}
	if err != nil {
		msg := "PostgreSQL unreachable at " + testDSN() + " (set VERDICT_TEST_PG_DSN): " + err.Error()
		if os.Getenv("VERDICT_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(pool.Close)
	return pool
}

// fixture is one test's share of the database: a data table, a marker
// table, a gid prefix, and a branch.
type fixture struct {
	pool   *pgxpool.Pool
	table  string // data: k text primary key, v text
	marker string
	prefix string
	branch string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := openPool(t)
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	u := hex.EncodeToString(b[:])
	f := &fixture{
		pool:   pool,
		table:  "vtest_data_" + u,
		marker: "vtest_marker_" + u,
		prefix: "vtest-" + u,
		branch: "branch-" + u,
	}
	ctx := testContext(t)
	if _, err := pool.Exec(ctx, "CREATE TABLE "+f.table+" (k text PRIMARY KEY, v text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, gid := range f.preparedGIDs(t, ctx) {
			if _, err := pool.Exec(ctx, "ROLLBACK PREPARED '"+gid+"'"); err != nil {
				t.Errorf("cleanup: rollback prepared %s: %v", gid, err)
			}
		}
		for _, tb := range []string{f.table, f.marker} {
			if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+tb); err != nil {
				t.Errorf("cleanup: drop %s: %v", tb, err)
			}
		}
	})
	return f
}

// config returns a Config for the fixture's branch.
func (f *fixture) config(branch string) Config {
	return Config{
		Pool:        f.pool,
		Branch:      branch,
		Prefix:      f.prefix,
		MarkerTable: f.marker,
		Logger:      testLogger(),
	}
}

func (f *fixture) newResource(t *testing.T) *Resource {
	t.Helper()
	r, err := New(testContext(t), f.config(f.branch))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// preparedGIDs lists the prepared transactions under the fixture's prefix.
func (f *fixture) preparedGIDs(t *testing.T, ctx context.Context) []string {
	t.Helper()
	rows, err := f.pool.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE starts_with(gid, $1) ORDER BY gid", f.prefix+":")
	if err != nil {
		t.Fatal(err)
	}
	gids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return gids
}

// value returns the committed value of key in the data table.
func (f *fixture) value(t *testing.T, key string) (string, bool) {
	t.Helper()
	var v string
	err := f.pool.QueryRow(testContext(t), "SELECT v FROM "+f.table+" WHERE k = $1", key).Scan(&v)
	if err == pgx.ErrNoRows {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return v, true
}

// insert is work that writes key under the transaction.
func (f *fixture) insert(key, value string) func(pgx.Tx) error {
	return func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), "INSERT INTO "+f.table+" (k, v) VALUES ($1, $2)", key, value)
		return err
	}
}

func newTxID(t *testing.T) string {
	t.Helper()
	id, err := txid.New()
	if err != nil {
		t.Fatal(err)
	}
	return id
}
