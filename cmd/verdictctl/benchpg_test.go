package main

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const benchPGDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// requirePostgres skips the test when PostgreSQL is unreachable, unless
// VERDICT_REQUIRE_SERVICES=1 (CI), where it fails.
func requirePostgres(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, benchPGDSN)
	if err == nil {
		conn.Close(ctx)
		return
	}
	if os.Getenv("VERDICT_REQUIRE_SERVICES") == "1" {
		t.Fatalf("PostgreSQL at %s is required (VERDICT_REQUIRE_SERVICES=1): %v", benchPGDSN, err)
	}
	t.Skipf("PostgreSQL at %s unreachable, skipping: %v", benchPGDSN, err)
}

func TestBenchPGFloor(t *testing.T) {
	requirePostgres(t)
	code, out, errs := ctl(t, "bench", "--scenario", "pg-floor", "--pg-dsn", benchPGDSN,
		"--duration", "1s", "--warmup", "100ms", "--concurrency", "4", "-o", "json")
	if code != exitOK {
		t.Fatalf("bench pg-floor: exit %d: %s", code, errs)
	}
	var res map[string]float64
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench json: %v: %s", err, out)
	}
	if res["commits"] <= 0 || res["errors"] != 0 || res["unresolved"] != 0 || res["participants"] != 2 {
		t.Fatalf("bench pg-floor = %s; want commits on two databases, no errors, nothing left prepared", out)
	}
	if code, _, _ := ctl(t, "bench", "--scenario", "nope"); code != exitUsage {
		t.Errorf("unknown scenario: exit %d, want %d", code, exitUsage)
	}
}

// TestBenchPG runs the pg scenario with a row per worker and with random
// rows; atomicity is checked on the rows either way.
func TestBenchPG(t *testing.T) {
	requirePostgres(t)
	addr := startNode(t)
	for _, rows := range []string{"0", "50"} {
		code, out, errs := ctl(t, "bench", "--endpoints", addr, "--scenario", "pg", "--pg-dsn", benchPGDSN,
			"--duration", "1s", "--warmup", "100ms", "--concurrency", "4", "--rows", rows, "-o", "json")
		if code != exitOK {
			t.Fatalf("bench pg --rows %s: exit %d: %s", rows, code, errs)
		}
		var res map[string]float64
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("bench json: %v: %s", err, out)
		}
		if res["commits"] <= 0 || res["errors"] != 0 || res["violations"] != 0 || res["unresolved"] != 0 || res["participants"] != 2 {
			t.Fatalf("bench pg --rows %s = %s; want commits through two PostgreSQL participants, no errors or violations, nothing left prepared", rows, out)
		}
	}
}
