// Command demo runs the whole bank example in one process, without
// Docker: a coordinator cluster, two account services over two databases
// it creates on a local PostgreSQL, and transfers between them, one of
// them refused and a leader restart in the middle; it prints what happens
// and checks that no money was made or lost and nothing stays prepared.
//
//	go run ./examples/bank/cmd/demo
//
// It exits 0 when every check passes, 1 otherwise (see ../../README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "demo: interrupted; stopped everything and cleaned up")
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// options are the demo's flags.
type options struct {
	dsn       string
	nodes     int
	transfers int
	amount    int64
	accounts  int
	balance   int64
	keep      bool
	verbose   bool
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintln(out, "Usage: go run ./examples/bank/cmd/demo [flags]\n\n"+
			"Runs the bank example in this process (coordinators, two account services, transfers)\n"+
			"against a local PostgreSQL, prints what happens, and checks the balances.\n\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.dsn, "dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"PostgreSQL server to use (max_prepared_transactions > 0); the demo creates two databases of its own beside this one")
	fs.IntVar(&o.nodes, "nodes", 3, "coordinator nodes: 1, 3 or 5")
	fs.IntVar(&o.transfers, "transfers", 20, "transfers to run, half before the leader restart and half after (the refused one comes on top)")
	fs.Int64Var(&o.amount, "amount", 100, "amount each transfer moves")
	fs.IntVar(&o.accounts, "accounts", 4, "accounts seeded at each service")
	fs.Int64Var(&o.balance, "balance", 1000, "initial balance of each account")
	fs.BoolVar(&o.keep, "keep", false, "keep the two databases at the end (the demo prints how to look at them and drop them)")
	fs.BoolVar(&o.verbose, "verbose", false, "also log the coordinators' and services' own messages to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	return o, o.validate(fs)
}

func (o options) validate(fs *flag.FlagSet) error {
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	case o.nodes != 1 && o.nodes != 3 && o.nodes != 5:
		return fmt.Errorf("--nodes %d: a cluster has 1, 3 or 5 nodes", o.nodes)
	case o.transfers < 1:
		return fmt.Errorf("--transfers %d: at least one", o.transfers)
	case o.amount <= 0:
		return fmt.Errorf("--amount %d: must be positive", o.amount)
	case o.accounts < 2:
		return fmt.Errorf("--accounts %d: at least two", o.accounts)
	case o.balance <= 0:
		return fmt.Errorf("--balance %d: must be positive", o.balance)
	}
	return nil
}

// run runs the demo with args (the flags) and prints to out. It returns
// nil when every check passed; it stops everything it started and drops
// what it created (unless --keep) before it returns, also when ctx ends.
func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	d := &demo{opts: o, out: out, logger: logger(o.verbose), expected: map[string]int64{}}
	err = d.steps(ctx)
	if d.cluster != nil {
		d.say("\nCleanup:")
	}
	if cerr := d.cleanup(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("clean up: %w", cerr))
	}
	if err == nil {
		d.say("\nAll checks passed.")
	}
	return err
}

func (d *demo) steps(ctx context.Context) error {
	if err := d.setUp(ctx); err != nil {
		return err
	}
	if err := d.play(ctx); err != nil {
		return err
	}
	return d.verify(ctx)
}

func logger(verbose bool) *slog.Logger {
	if verbose {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}
