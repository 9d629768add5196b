package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/verdict-tx/verdict/internal/bench"
)

func setupBench(fs *flag.FlagSet) func(e *env, args []string) int {
	duration := fs.Duration("duration", 10*time.Second, "how long to measure")
	warmup := fs.Duration("warmup", time.Second, "how long to run before measuring")
	concurrency := fs.Int("concurrency", 64, "closed-loop workers")
	participants := fs.Int("participants", 2, "in-memory participant services started in this process")
	timeoutMs := fs.Int64("timeout-ms", 0, "each transaction's timeout in ms (0: the coordinator's default)")
	return func(e *env, args []string) int {
		if len(args) > 0 {
			fmt.Fprintf(e.stderr, "verdictctl bench: unexpected argument %q\n", args[0])
			return exitUsage
		}
		if os.Getenv("GOGC") == "" {
			// The load generator is allocation-heavy; see cmd/verdict.
			debug.SetGCPercent(400)
		}
		eps, _ := e.endpointList()
		res, err := bench.Run(e.ctx, bench.Config{
			Endpoints:    eps,
			Duration:     *duration,
			Warmup:       *warmup,
			Concurrency:  *concurrency,
			Participants: *participants,
			TxTimeout:    time.Duration(*timeoutMs) * time.Millisecond,
		})
		if res == nil {
			fmt.Fprintf(e.stderr, "verdictctl bench: %v\n", err)
			return exitUsage
		}
		for _, s := range res.ErrorSamples {
			fmt.Fprintf(e.stderr, "verdictctl bench: error: %s\n", s)
		}
		if e.json() {
			_ = writeJSON(e.stdout, res)
		} else {
			fmt.Fprintf(e.stdout, "%d participants, concurrency %d, %.1fs\n", res.Participants, res.Concurrency, res.DurationSec)
			fmt.Fprintf(e.stdout, "commits/s  %.1f\ncommits    %d\naborts     %d\nerrors     %d\n", res.CommitsPerSec, res.Commits, res.Aborts, res.Errors)
			fmt.Fprintf(e.stdout, "latency (Begin → Commit answered), ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f\n", res.P50, res.P90, res.P99, res.P999)
			fmt.Fprintf(e.stdout, "Commit call alone, ms:                 p50 %.3f  p99 %.3f\n", res.CommitP50, res.CommitP99)
		}
		if err != nil || res.Commits == 0 {
			return exitFailure
		}
		return exitOK
	}
}
