package main

import (
	"encoding/json"
	"testing"

	"github.com/verdict-tx/verdict/internal/pgtest"
)

// benchPGArgs are the flags that point a pg scenario at the test server and
// at two databases of this run's own (dropped when t ends); the test skips
// without PostgreSQL.
func benchPGArgs(t *testing.T) []string {
	t.Helper()
	a, b := pgtest.DatabaseName(t, "verdictctl_bench_a"), pgtest.DatabaseName(t, "verdictctl_bench_b")
	return []string{"--pg-dsn", pgtest.DSN(), "--pg-databases", a + "," + b}
}

func TestBenchPGFloor(t *testing.T) {
	args := append([]string{"bench", "--scenario", "pg-floor"}, benchPGArgs(t)...)
	code, out, errs := ctl(t, append(args, "--duration", "1s", "--min-commits", "20", "--max-duration", "2m", "--warmup", "100ms", "--concurrency", "4", "-o", "json")...)
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
	for _, dbs := range []string{"one", "same,same", "a,b,c", "a,Robert'); DROP TABLE x"} {
		if code, _, _ := ctl(t, "bench", "--scenario", "pg", "--pg-databases", dbs); code != exitUsage {
			t.Errorf("--pg-databases %q: exit %d, want %d", dbs, code, exitUsage)
		}
	}
}

// TestBenchPG runs the pg scenario with a row per worker and with random
// rows; atomicity is checked on the rows either way. Each run measures at
// least 1s and 20 commits, however busy the machine.
func TestBenchPG(t *testing.T) {
	pg := benchPGArgs(t)
	addr := startNode(t)
	for _, rows := range []string{"0", "50"} {
		args := append([]string{"bench", "--endpoints", addr, "--scenario", "pg"}, pg...)
		code, out, errs := ctl(t, append(args, "--duration", "1s", "--min-commits", "20", "--max-duration", "2m", "--warmup", "100ms", "--concurrency", "4", "--rows", rows, "-o", "json")...)
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
