// Command accounts runs one account service of the bank example over its
// own PostgreSQL database (see ../../README.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/verdict-tx/verdict/examples/bank/account"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "accounts:", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("name", "bank-a", "participant name, unique among the bank's services and stable across restarts")
	listen := flag.String("listen", "127.0.0.1:9101", "address to serve on (the coordinator dials it unless --advertise is set)")
	advertise := flag.String("advertise", "", "address the coordinator dials to reach this service, sent with each enlistment (needed when --listen is a wildcard such as 0.0.0.0:9101, which cannot be dialed); default the --listen address")
	dsn := flag.String("dsn", "postgres://postgres@127.0.0.1:5432/bank_a?sslmode=disable", "this service's own database")
	coords := flag.String("coordinators", "127.0.0.1:7400", "coordinator endpoints, comma-separated")
	seed := flag.Int("seed", 0, "create accounts acct-0 … acct-N-1 with --balance each (existing ones are left alone)")
	balance := flag.Int64("balance", 1000, "initial balance of a seeded account")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pool, err := pgxpool.New(ctx, *dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	addr := *advertise
	if addr == "" {
		addr = l.Addr().String()
	}
	svc, err := account.Start(ctx, account.Config{Name: *name, Pool: pool, Listener: l, Address: addr, Coordinators: strings.Split(*coords, ",")})
	if err != nil {
		return err
	}
	defer svc.Stop()
	balances := map[string]int64{}
	for i := range *seed {
		balances[fmt.Sprintf("acct-%d", i)] = *balance
	}
	if err := account.Seed(ctx, pool, balances); err != nil {
		return err
	}
	slog.Info("accounts serving", "name", *name, "listen", l.Addr().String(), "advertise", addr)
	<-ctx.Done()
	return nil
}
