package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/verdict-tx/verdict/cmd/verdictctl/internal/bench"
)

func setupBench(fs *flag.FlagSet) func(e *env, args []string) int {
	duration := fs.Duration("duration", 10*time.Second, "how long to measure")
	minCommits := fs.Uint64("min-commits", 0, "measure past --duration until this many transactions have committed, for at most --max-duration (0: exactly --duration)")
	maxDuration := fs.Duration("max-duration", time.Minute, "with --min-commits: the longest the measured run may last")
	warmup := fs.Duration("warmup", time.Second, "how long to run before measuring")
	concurrency := fs.Int("concurrency", 64, "closed-loop workers")
	participants := fs.Int("participants", 2, "in-memory participant services started in this process (scenarios mem and mem-floor; the pg scenarios have two)")
	beginCall := fs.Bool("begin-call", false, "begin every transaction with a Begin call (without it, the client begins transactions itself once it knows the leader's term: client.WithLocalBegin)")
	prepareCall := fs.Bool("prepare-call", false, "participants vote only when the coordinator's Prepare asks (without it, they vote with their enlistment: participant.Config.EarlyVote)")
	timeoutMs := fs.Int64("timeout-ms", 0, "each transaction's timeout in ms (0: the coordinator's default)")
	scenario := fs.String("scenario", "mem", "mem: in-memory participants through the coordinator; pg: two PostgreSQL participants (participant/postgres, one database each) through the coordinator; pg-floor: the PostgreSQL work with no coordinator (PREPARE TRANSACTION + COMMIT PREPARED on two databases directly); mem-floor: the in-memory work calls with no coordinator (each call stages, prepares and commits at its participant)")
	rows := fs.Int("rows", 0, "pg scenarios: 0 = each worker updates its own row (its next transaction waits on the row lock for the previous one's phase 2); N = each transaction updates a random one of N rows")
	pgDSN := fs.String("pg-dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for the pg scenarios; they create the databases of --pg-databases beside its database")
	pgDatabases := fs.String("pg-databases", strings.Join(bench.DefaultPGDatabases, ","), "pg scenarios: the two databases, comma-separated, one per participant (created if missing); two runs against one server at once need their own")
	return func(e *env, args []string) int {
		if len(args) > 0 {
			fmt.Fprintf(e.stderr, "verdictctl bench: unexpected argument %q\n", args[0])
			return exitUsage
		}
		switch {
		case *duration <= 0:
			return benchUsage(e, "--duration %v: must be positive", *duration)
		case *minCommits > 0 && *maxDuration < *duration:
			return benchUsage(e, "--max-duration %v: must be at least --duration %v", *maxDuration, *duration)
		case *warmup < 0:
			return benchUsage(e, "--warmup %v: must not be negative", *warmup)
		case *concurrency < 1 || *concurrency > 10000:
			return benchUsage(e, "--concurrency %d: want 1 to 10000", *concurrency)
		case *participants < 0 || *participants > 64:
			return benchUsage(e, "--participants %d: want 0 to 64", *participants)
		case *timeoutMs < 0:
			return benchUsage(e, "--timeout-ms %d: must not be negative", *timeoutMs)
		case *scenario != "mem" && *scenario != "mem-floor" && *scenario != "pg" && *scenario != "pg-floor":
			return benchUsage(e, "--scenario %q: want mem, mem-floor, pg or pg-floor", *scenario)
		}
		dbs := strings.Split(*pgDatabases, ",")
		if err := bench.CheckPGDatabases(dbs); err != nil && strings.HasPrefix(*scenario, "pg") {
			return benchUsage(e, "--pg-databases %q: %v", *pgDatabases, err)
		}
		if os.Getenv("GOGC") == "" {
			// The load generator is allocation-heavy; see cmd/verdict.
			debug.SetGCPercent(400)
		}
		eps, _ := e.endpointList()
		cfg := bench.Config{
			Endpoints:    eps,
			Duration:     *duration,
			MinCommits:   *minCommits,
			Warmup:       *warmup,
			Concurrency:  *concurrency,
			Participants: *participants,
			TxTimeout:    time.Duration(*timeoutMs) * time.Millisecond,
			Rows:         *rows,
			PGDatabases:  dbs,
			BeginCall:    *beginCall,
			PrepareCall:  *prepareCall,
		}
		if *minCommits > 0 {
			cfg.MaxDuration = *maxDuration
		}
		var res *bench.Result
		var err error
		switch *scenario {
		case "pg":
			res, err = bench.RunPG(e.ctx, cfg, *pgDSN)
		case "pg-floor":
			res, err = bench.RunPGFloor(e.ctx, cfg, *pgDSN)
		case "mem-floor":
			res, err = bench.RunMemFloor(e.ctx, cfg)
		default:
			res, err = bench.Run(e.ctx, cfg)
		}
		if res == nil {
			// The flags were checked above: this is a failure to set up
			// (listen, dial), not bad input.
			fmt.Fprintf(e.stderr, "verdictctl bench: %v\n", err)
			return exitFailure
		}
		return reportBench(e, *scenario, res, err)
	}
}

// reportBench prints a run's result (to stdout) and, on stderr, its error
// samples and every reason the run failed: an error that ended it, no
// commit, an atomicity violation, transactions left prepared. It returns
// the exit code.
func reportBench(e *env, scenario string, res *bench.Result, err error) int {
	for _, s := range res.ErrorSamples {
		fmt.Fprintf(e.stderr, "verdictctl bench: error: %s\n", s)
	}
	if e.json() {
		_ = writeJSON(e.stdout, res)
	} else {
		fmt.Fprintf(e.stdout, "scenario %s, %d participants, concurrency %d, %.1fs\n", scenario, res.Participants, res.Concurrency, res.DurationSec)
		fmt.Fprintf(e.stdout, "commits/s  %.1f\ncommits    %d\naborts     %d\nerrors     %d\n", res.CommitsPerSec, res.Commits, res.Aborts, res.Errors)
		fmt.Fprintf(e.stdout, "latency (Begin → Commit answered), ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f\n", res.P50, res.P90, res.P99, res.P999)
		fmt.Fprintf(e.stdout, "Commit call alone, ms:                 p50 %.3f  p99 %.3f\n", res.CommitP50, res.CommitP99)
		fmt.Fprintf(e.stdout, "atomicity violations %d, still prepared after the run %d\n", res.Violations, res.Unresolved)
		if len(res.CallsPerTx) > 0 {
			kinds := slices.Sorted(maps.Keys(res.CallsPerTx))
			total := 0.0
			for _, k := range kinds {
				total += res.CallsPerTx[k]
			}
			fmt.Fprintf(e.stdout, "unary calls per transaction: %.2f\n", total)
			for _, k := range kinds {
				fmt.Fprintf(e.stdout, "  %-28s %.2f\n", k, res.CallsPerTx[k])
			}
		}
	}
	failures := benchFailures(res, err)
	for _, f := range failures {
		fmt.Fprintf(e.stderr, "verdictctl bench: failed: %s\n", f)
	}
	if len(failures) > 0 {
		return exitFailure
	}
	return exitOK
}

// benchFailures lists why a run failed; none if it succeeded.
func benchFailures(res *bench.Result, err error) []string {
	var why []string
	if err != nil {
		why = append(why, fmt.Sprintf("the run ended with an error: %v", err))
	}
	if res.Commits == 0 {
		window := time.Duration(res.DurationSec * float64(time.Second))
		why = append(why, fmt.Sprintf("no transaction committed (%d aborted, %d failed) in the measured %v", res.Aborts, res.Errors, window))
	}
	if res.Violations > 0 {
		why = append(why, fmt.Sprintf("%d atomicity violations", res.Violations))
	}
	if res.Unresolved > 0 {
		why = append(why, fmt.Sprintf("%d transactions still prepared at a participant after the run (phase 2 did not finish in time)", res.Unresolved))
	}
	return why
}

func benchUsage(e *env, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "verdictctl bench: "+format+"\n", args...)
	return exitUsage
}
