package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/verdict-tx/verdict/internal/pgtest"
)

// TestMain fails the tests if a goroutine outlives them: the demo must stop
// everything it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// requirePostgres skips t when the test server is unreachable, unless
// VERDICT_REQUIRE_SERVICES=1 (as pgtest does), and returns its DSN.
func requirePostgres(t *testing.T) string {
	t.Helper()
	dsn := pgtest.DSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, _, err := connectAdmin(ctx, dsn)
	switch {
	case err == nil:
		admin.Close()
	case errors.Is(err, errUnreachable) && os.Getenv("VERDICT_REQUIRE_SERVICES") != "1":
		t.Skipf("PostgreSQL unreachable (set VERDICT_TEST_PG_DSN), skipping: %v", err)
	default:
		t.Fatalf("PostgreSQL at %s: %v", dsn, err)
	}
	return dsn
}

// runDemo runs the demo and fails t, showing its output, if it fails.
func runDemo(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, args, &out)
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String()
}

func TestDemo(t *testing.T) {
	dsn := requirePostgres(t)
	out := runDemo(t, "--dsn", dsn, "--transfers", "4")
	if n := len(regexp.MustCompile(`(?m)  committed \(`).FindAllString(out, -1)); n != 4 {
		t.Errorf("%d transfers reported committed, want 4", n)
	}
	for _, want := range []string{
		"leader: node ",
		"aborted, nothing moved: account: \"acct-0\": insufficient funds",
		"nothing moved at either side",
		"Leader restart: stopping node ",
		"new leader: node ",
		"rejoins as a follower",
		"as at the start: unchanged",
		"every account holds what the committed transfers imply",
		"): none",
		"4 committed, 0 aborted, 1 refused",
		"All checks passed.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	checkDropped(t, out)
}

// A lone coordinator node is restarted rather than replaced.
func TestDemoOneNode(t *testing.T) {
	dsn := requirePostgres(t)
	out := runDemo(t, "--dsn", dsn, "--nodes", "1", "--transfers", "2")
	for _, want := range []string{"the only node", "new leader: node 1", "unchanged", "All checks passed."} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	checkDropped(t, out)
}

// checkDropped checks that the databases the output names are gone.
func checkDropped(t *testing.T, out string) {
	t.Helper()
	names := regexp.MustCompile(`dropped database (verdict_demo_[ab]_[0-9a-f]{16})`).FindAllStringSubmatch(out, -1)
	if len(names) != 2 {
		t.Fatalf("output names %d dropped databases, want 2", len(names))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, _, err := connectAdmin(ctx, pgtest.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, m := range names {
		var n int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", m[1]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s still exists after the demo", m[1])
		}
	}
}

func TestFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--nodes", "2"},
		{"--transfers", "0"},
		{"--amount", "-5"},
		{"--accounts", "1"},
		{"extra"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out); err == nil {
			t.Errorf("run %v succeeded, want an error", args)
		}
	}
}

func TestUnreachable(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"--dsn", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5"}, &out)
	if !errors.Is(err, errUnreachable) || !strings.Contains(err.Error(), "--dsn") {
		t.Fatalf("run against a closed port: %v, want an unreachable error that names --dsn", err)
	}
}

// A server that cannot prepare transactions is named, with the fix.
func TestMaxPreparedZero(t *testing.T) {
	cfg, err := pgx.ParseConfig("postgres://postgres@127.0.0.1:5432/test")
	if err != nil {
		t.Fatal(err)
	}
	_, err = checkMaxPrepared("0", "postgres@127.0.0.1:5432/test", cfg)
	if err == nil || !strings.Contains(err.Error(), "max_prepared_transactions is \"0\"") || !strings.Contains(err.Error(), "ALTER SYSTEM SET max_prepared_transactions") {
		t.Fatalf("checkMaxPrepared(0) = %v, want an error that says how to fix it", err)
	}
	if n, err := checkMaxPrepared("100", "x", cfg); n != 100 || err != nil {
		t.Fatalf("checkMaxPrepared(100) = %d, %v", n, err)
	}
}
