package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/verdict-tx/verdict/cmd/verdictctl/internal/bench"
)

// A benchmark that commits nothing exits 1 and says why on stderr, in
// table and in JSON output: here its measured window (1ns) is too short for
// any transaction to fall in it.
func TestBenchSaysWhyItFailed(t *testing.T) {
	ep := "--endpoints=" + startNode(t)
	for _, format := range []string{"table", "json"} {
		code, out, errs := ctl(t, "bench", ep, "--duration", "1ns", "--warmup", "0s", "--concurrency", "1", "--participants", "1", "-o", format)
		if code != exitFailure || !strings.Contains(errs, "no transaction committed") {
			t.Errorf("-o %s: exit %d, stderr %q (stdout %q); want %d and why", format, code, errs, out, exitFailure)
		}
	}
}

// With --min-commits a run measures past --duration until that many
// transactions committed: even a 1ns window then measures some.
func TestBenchMinCommits(t *testing.T) {
	ep := "--endpoints=" + startNode(t)
	code, out, errs := ctl(t, "bench", ep, "--duration", "1ns", "--min-commits", "5", "--max-duration", "2m",
		"--warmup", "0s", "--concurrency", "2", "--participants", "2", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench json: %v: %s", err, out)
	}
	if res.Commits < 5 || res.DurationSec <= 0 || res.Errors != 0 {
		t.Fatalf("bench = %s; want at least 5 commits over a positive window", out)
	}
}

// The run reports the unary calls a transaction costs, by kind: at
// concurrency 1 with two participants, Begin (with --begin-call; else only
// the first transaction's), a work call and an Enlist per participant,
// Commit, a Prepare (with --prepare-call; else none: the vote rides with
// the enlistment) and a phase-2 Commit per participant. The floor makes
// the work calls alone.
func TestBenchCountsCalls(t *testing.T) {
	ep := "--endpoints=" + startNode(t)
	for _, run := range []struct {
		scenario string
		flags    []string
		want     map[string]float64
	}{
		{"mem", []string{"--begin-call", "--prepare-call"}, map[string]float64{
			"Coordinator/Begin": 1, "Coordinator/Commit": 1, "Coordinator/Enlist": 2,
			"Work/Stage": 2, "Participant/Prepare": 2, "Participant/Commit": 2,
		}},
		{"mem", []string{"--prepare-call"}, map[string]float64{
			"Coordinator/Begin": 0, "Coordinator/Commit": 1, "Coordinator/Enlist": 2,
			"Work/Stage": 2, "Participant/Prepare": 2, "Participant/Commit": 2,
		}},
		// The participants vote with their enlistment: no Prepare.
		{"mem", nil, map[string]float64{
			"Coordinator/Begin": 0, "Coordinator/Commit": 1, "Coordinator/Enlist": 2,
			"Work/Stage": 2, "Participant/Commit": 2,
		}},
		{"mem-floor", nil, map[string]float64{"Work/Stage": 2}},
	} {
		scenario, want := run.scenario, run.want
		args := append([]string{"bench", ep, "--scenario", scenario, "--duration", "300ms", "--min-commits", "100", "--max-duration", "1m", "--warmup", "0s",
			"--concurrency", "1", "--participants", "2", "-o", "json"}, run.flags...)
		code, out, errs := ctl(t, args...)
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", scenario, code, errs)
		}
		var res bench.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%s: bench json: %v: %s", scenario, err, out)
		}
		for kind, n := range want {
			// A rare retry (a leader change, a lost answer) adds a call;
			// so does the first Begin of a client that begins locally.
			// Phase 2 of the last transactions may fall after the window.
			if got := res.CallsPerTx[kind]; got < n-0.05 || got > n+0.25 {
				t.Errorf("%s %v: %s calls per transaction %.3f, want %v", scenario, run.flags, kind, got, n)
			}
		}
		for kind := range res.CallsPerTx {
			if _, ok := want[kind]; !ok {
				t.Errorf("%s %v: unexpected %s calls: %v", scenario, run.flags, kind, res.CallsPerTx)
			}
		}
	}
}

// Each reason a run fails for is said on stderr, also with -o json.
func TestBenchReportReasons(t *testing.T) {
	tests := []struct {
		name string
		res  bench.Result
		err  error
		want []string // on stderr; none: the run succeeded
	}{
		{name: "ok", res: bench.Result{Commits: 10}},
		{name: "nothing committed", res: bench.Result{Aborts: 3, Errors: 2}, want: []string{"no transaction committed (3 aborted, 2 failed)"}},
		{name: "left prepared", res: bench.Result{Commits: 10, Unresolved: 4}, want: []string{"4 transactions still prepared"}},
		{name: "violations", res: bench.Result{Commits: 10, Violations: 1}, want: []string{"1 atomicity violations"}},
		{name: "interrupted", res: bench.Result{Commits: 10}, err: context.Canceled, want: []string{"the run ended with an error: context canceled"}},
		{name: "all of it", res: bench.Result{Unresolved: 1}, err: errors.New("read rows: connection reset"),
			want: []string{"no transaction committed", "1 transactions still prepared", "read rows: connection reset"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			g := builtinGlobals()
			g.output = "json"
			e := &env{globals: g, ctx: context.Background(), stdout: &out, stderr: &errs}
			code := reportBench(e, "mem", &tc.res, tc.err)
			if wantCode := map[bool]int{true: exitOK, false: exitFailure}[len(tc.want) == 0]; code != wantCode {
				t.Errorf("exit %d, want %d", code, wantCode)
			}
			if len(tc.want) == 0 && errs.Len() > 0 {
				t.Errorf("stderr %q for a run that succeeded", errs.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errs.String(), w) {
					t.Errorf("stderr %q lacks %q", errs.String(), w)
				}
			}
			if !strings.HasPrefix(out.String(), "{") {
				t.Errorf("stdout %q: want the JSON result", out.String())
			}
		})
	}
}
