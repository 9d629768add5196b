package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/verdict-tx/verdict/internal/coordconn"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func setupTxRetry(fs *flag.FlagSet) func(e *env, args []string) int {
	return func(e *env, args []string) int {
		id, ok := e.txidArg("tx retry", args)
		if !ok {
			return exitUsage
		}
		return callCluster(e, "tx retry",
			func(ctx context.Context, conn *coordconn.Conn) (*verdictv1.Transaction, error) {
				resp, err := conn.Admin().RetryTransaction(ctx, &verdictv1.RetryTransactionRequest{Txid: id})
				return resp.GetTransaction(), err
			},
			func(tx *verdictv1.Transaction) {
				fmt.Fprintf(e.stdout, "Phase 2 of %s re-driven now; `verdictctl tx show %s` follows it.\n\n", id, id)
				printTx(e.stdout, tx, time.Now())
			})
	}
}
