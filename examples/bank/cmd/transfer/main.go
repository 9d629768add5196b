// Command transfer is the bank example's initiator: it moves money between
// accounts of two account services in Verdict transactions, and prints
// each outcome (see ../../README.md). With --count 0 it transfers until
// interrupted, one every --interval, carrying on past failed transfers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/examples/bank/account"
	"github.com/verdict-tx/verdict/examples/bank/bankpb"
)

// Exit codes: every transfer committed (in loop mode: interrupted); some
// transfer did not commit, or a setup failure; bad flags.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command: it returns its exit code. In loop mode (--count 0)
// it transfers until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("transfer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	coords := fs.String("coordinators", "127.0.0.1:7400", "coordinator endpoints, comma-separated")
	from := fs.String("from", "127.0.0.1:9101", "the account service to withdraw from")
	to := fs.String("to", "127.0.0.1:9102", "the account service to deposit to")
	fromAcct := fs.String("from-account", "acct-0", "account to withdraw from")
	toAcct := fs.String("to-account", "acct-0", "account to deposit to")
	amount := fs.Int64("amount", 10, "amount to move (positive)")
	count := fs.Int("count", 1, "number of transfers, one after the other; 0 transfers until interrupted (SIGINT, SIGTERM), carrying on past failed transfers")
	interval := fs.Duration("interval", 0, "pause between two transfers")
	timeout := fs.Duration("timeout", 10*time.Second, "time limit of one transfer")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *count < 0 || *amount <= 0 || *interval < 0 || *timeout <= 0 {
		fmt.Fprintln(stderr, "transfer: --amount and --timeout must be positive, --count and --interval not negative")
		return exitUsage
	}
	loop := *count == 0

	cl, err := client.Dial(strings.Split(*coords, ","))
	if err != nil {
		fmt.Fprintln(stderr, "transfer:", err)
		return exitFailed
	}
	defer cl.Close()
	src, srcConn, err := dial(*from)
	if err != nil {
		fmt.Fprintln(stderr, "transfer:", err)
		return exitFailed
	}
	defer srcConn.Close()
	dst, dstConn, err := dial(*to)
	if err != nil {
		fmt.Fprintln(stderr, "transfer:", err)
		return exitFailed
	}
	defer dstConn.Close()

	failed := 0
	for i := 0; loop || i < *count; i++ {
		if i > 0 && *interval > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(*interval):
			}
		}
		if ctx.Err() != nil {
			break
		}
		tctx, cancel := context.WithTimeout(ctx, *timeout)
		err := account.Transfer(tctx, cl, src, dst, *fromAcct, *toAcct, *amount)
		cancel()
		switch {
		case err == nil:
			fmt.Fprintf(stdout, "%d: moved %d from %s to %s\n", i+1, *amount, *fromAcct, *toAcct)
		case errors.Is(err, client.ErrAmbiguous):
			failed++
			fmt.Fprintf(stdout, "%d: outcome unknown (it is the same at both services): %v\n", i+1, err)
		default:
			failed++
			fmt.Fprintf(stdout, "%d: nothing moved: %v\n", i+1, err)
		}
	}
	if loop {
		// Interrupted: failures were logged as they came, and the loop
		// carried on past them.
		return exitOK
	}
	if failed > 0 {
		return exitFailed
	}
	return exitOK
}

func dial(addr string) (bankpb.AccountsClient, *grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		return nil, nil, err
	}
	return bankpb.NewAccountsClient(conn), conn, nil
}
