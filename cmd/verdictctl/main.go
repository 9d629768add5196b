// Command verdictctl operates a Verdict coordinator cluster and benchmarks
// it: cluster status and membership, listing and inspecting transactions,
// operator actions (retry, abort, heuristic forget), the prepared
// transactions Verdict left in a PostgreSQL database, and a closed-loop
// benchmark (in-memory or PostgreSQL participants, and the PostgreSQL floor).
//
//	verdictctl cluster status --endpoints 127.0.0.1:7401,127.0.0.1:7402
//	verdictctl tx list --state preparing -o json
//	verdictctl tx show 01920c4e-7a3b-7c3d-9e2f-0123456789ab
//	verdictctl tx list --stuck
//	verdictctl tx retry 01920c4e-7a3b-7c3d-9e2f-0123456789ab
//	verdictctl tx forget 01920c4e-7a3b-7c3d-9e2f-0123456789ab --participant orders --reason "host lost"
//	verdictctl pg prepared --dsn postgres://... --resolve
//	verdictctl bench --duration 10s --concurrency 64 --participants 2
//
// Run "verdictctl help" for the commands, their flags and the exit codes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/verdict-tx/verdict/internal/coordconn"
)

// Exit codes.
const (
	exitOK      = 0 // success
	exitFailure = 1 // the cluster is unreachable, or an internal failure
	exitUsage   = 2 // bad usage or input, or the thing asked about does not exist
	exitPartial = 3 // pg prepared --resolve left some prepared transactions unresolved
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// env is what a command runs with: the global flags and where to write.
type env struct {
	globals
	ctx    context.Context // canceled on SIGINT
	stdout io.Writer
	stderr io.Writer
}

// globals are the flags every command takes.
type globals struct {
	endpoints string
	output    string
	timeout   time.Duration
	security
}

// Environment variables that stand for global flags left out (the flag
// wins). VERDICT_ADMIN_TOKEN is adminTokenEnv.
const (
	endpointsEnv = "VERDICT_ENDPOINTS"
	tlsCAEnv     = "VERDICT_TLS_CA"
	tlsCertEnv   = "VERDICT_TLS_CERT"
	tlsKeyEnv    = "VERDICT_TLS_KEY"
)

// builtinGlobals are the global flags' defaults without the environment.
func builtinGlobals() globals { return defaultGlobals(func(string) string { return "" }) }

// defaultGlobals are the global flags' defaults: the environment's values,
// else built-in ones.
func defaultGlobals(getenv func(string) string) globals {
	g := globals{endpoints: "127.0.0.1:7400", output: "table", timeout: 5 * time.Second}
	if v := getenv(endpointsEnv); v != "" {
		g.endpoints = v
	}
	g.files.CA, g.files.Cert, g.files.Key = getenv(tlsCAEnv), getenv(tlsCertEnv), getenv(tlsKeyEnv)
	return g
}

// register defines the global flags on fs, with their current values as
// defaults, so that values given before the command words survive.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.endpoints, "endpoints", g.endpoints, "coordinator endpoints (host:port; without a port, "+coordconn.DefaultPort+"), comma-separated")
	fs.StringVar(&g.output, "output", g.output, "output format: table or json")
	fs.StringVar(&g.output, "o", g.output, "shorthand for --output")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "timeout of each call to the cluster")
	g.security.register(fs)
}

func (g *globals) validate() error {
	if g.output != "table" && g.output != "json" {
		return fmt.Errorf("--output %q: want table or json", g.output)
	}
	if g.timeout <= 0 {
		return fmt.Errorf("--timeout %v: must be positive", g.timeout)
	}
	if _, err := g.endpointList(); err != nil {
		return err
	}
	return g.security.load()
}

// endpointList returns the endpoints of --endpoints as host:port: one
// without a port gets the coordinator's default port (coordconn.Endpoint).
func (g *globals) endpointList() ([]string, error) {
	var eps []string
	for ep := range strings.SplitSeq(g.endpoints, ",") {
		if strings.TrimSpace(ep) == "" {
			continue
		}
		ep, err := coordconn.Endpoint(ep)
		if err != nil {
			return nil, fmt.Errorf("--endpoints: %w", err)
		}
		eps = append(eps, ep)
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("--endpoints %q: no endpoint", g.endpoints)
	}
	return eps, nil
}

func (e *env) json() bool { return e.output == "json" }

// callContext bounds one call to the cluster by --timeout.
func (e *env) callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, e.timeout)
}

// command is one subcommand. setup defines the command's own flags on fs
// and returns the function that runs it with its positional arguments.
type command struct {
	words   []string
	args    string // positional arguments, for the usage line
	summary string
	setup   func(fs *flag.FlagSet) func(e *env, args []string) int
}

func (c *command) name() string { return strings.Join(c.words, " ") }

var commands = []*command{
	{words: []string{"cluster", "status"}, summary: "show the members, the leader and each node's Raft progress", setup: setupClusterStatus},
	{words: []string{"cluster", "add"}, args: "ID=HOST:PORT", summary: "add a node as a learner; the leader promotes it to voter once caught up", setup: setupClusterAdd},
	{words: []string{"cluster", "remove"}, args: "ID", summary: "remove a member for good (its id is never reused)", setup: setupClusterRemove},
	{words: []string{"cluster", "transfer"}, args: "ID", summary: "hand leadership to another voter", setup: setupClusterTransfer},
	{words: []string{"cluster", "clear-divergence"}, args: "ID", summary: "let a member marked diverged lead again (a false alarm; repair a real one by cluster remove, then cluster add of a new id)", setup: setupClusterClearDivergence},
	{words: []string{"cluster", "check"}, summary: "compare the members' states at a checkpoint appended to the log: consistent, or which member differs since when (exit 1)", setup: setupClusterCheck},
	{words: []string{"tx", "list"}, summary: "list transactions (undecided or not yet done, unless --all)", setup: setupTxList},
	{words: []string{"tx", "show"}, args: "TXID", summary: "show one transaction: state, participants, deliveries, last error, timeline", setup: setupTxShow},
	{words: []string{"tx", "retry"}, args: "TXID", summary: "re-drive phase 2 of a decided transaction now, skipping the backoff", setup: setupTxRetry},
	{words: []string{"tx", "abort"}, args: "TXID", summary: "abort a transaction that is not decided yet (active or preparing)", setup: setupTxAbort},
	{words: []string{"tx", "forget"}, args: "TXID --participant NAME --reason TEXT", summary: "resolve one participant's phase 2 by hand (heuristic, audited): for a participant gone for good", setup: setupTxForget},
	{words: []string{"pg", "prepared"}, summary: "list Verdict's prepared transactions in a PostgreSQL database with the coordinator's outcome; --resolve applies it", setup: setupPgPrepared},
	{words: []string{"bench"}, summary: "run a closed-loop benchmark with in-process participants", setup: setupBench},
	{words: []string{"probe"}, args: "URL", summary: "exit 0 if an HTTP GET of URL answers 200 (a container's health check of a node's /readyz), else 1", setup: setupProbe},
}

// run is the whole program: it returns the exit code. The command line
// is parsed by cobra (root.go) over the commands table.
func run(args []string, stdout, stderr io.Writer) int {
	stdout, stderr = &lockedWriter{w: stdout}, &lockedWriter{w: stderr}
	if len(args) == 0 {
		printHelp(stderr)
		return exitUsage
	}
	g := defaultGlobals(os.Getenv)
	code := exitOK
	root := newRoot(&g, stdout, stderr, &code)
	root.SetArgs(doubleDash(root, args))
	if err := root.Execute(); err != nil {
		reportUsageError(stderr, err)
		return exitUsage
	}
	return code
}

// lockedWriter serialises writes: the benchmark's participants log from
// their own goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
