// Command transfer is the bank example's initiator: it moves money between
// accounts of two account services in Verdict transactions, and prints
// each outcome (see ../../README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/examples/bank/account"
	"github.com/verdict-tx/verdict/examples/bank/bankpb"
)

func main() {
	coords := flag.String("coordinators", "127.0.0.1:7400", "coordinator endpoints, comma-separated")
	from := flag.String("from", "127.0.0.1:9101", "the account service to withdraw from")
	to := flag.String("to", "127.0.0.1:9102", "the account service to deposit to")
	fromAcct := flag.String("from-account", "acct-0", "account to withdraw from")
	toAcct := flag.String("to-account", "acct-0", "account to deposit to")
	amount := flag.Int64("amount", 10, "amount to move (positive)")
	count := flag.Int("count", 1, "number of transfers, one after the other")
	flag.Parse()
	if *count < 1 || *amount <= 0 {
		fmt.Fprintln(os.Stderr, "transfer: --count and --amount must be positive")
		os.Exit(2)
	}

	cl, err := client.Dial(strings.Split(*coords, ","))
	if err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
	defer cl.Close()
	src, dst := dial(*from), dial(*to)
	failed := 0
	for i := range *count {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := account.Transfer(ctx, cl, src, dst, *fromAcct, *toAcct, *amount)
		cancel()
		switch {
		case err == nil:
			fmt.Printf("%d: moved %d from %s to %s\n", i+1, *amount, *fromAcct, *toAcct)
		case errors.Is(err, client.ErrAmbiguous):
			failed++
			fmt.Printf("%d: outcome unknown (it is the same at both services): %v\n", i+1, err)
		default:
			failed++
			fmt.Printf("%d: nothing moved: %v\n", i+1, err)
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}

func dial(addr string) bankpb.AccountsClient {
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
	return bankpb.NewAccountsClient(conn)
}
