package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/verdict-tx/verdict/internal/coordconn"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func setupTxRetry(fs *flag.FlagSet) func(e *env, args []string) int {
	return func(e *env, args []string) int {
		return txCommand(e, "tx retry", args,
			func(ctx context.Context, conn *coordconn.Conn, id string) (*verdictv1.Transaction, error) {
				resp, err := conn.Admin().RetryTransaction(ctx, &verdictv1.RetryTransactionRequest{Txid: id})
				return resp.GetTransaction(), err
			},
			func(tx *verdictv1.Transaction) string {
				return fmt.Sprintf("Phase 2 of %s re-driven now; `verdictctl tx show %s` follows it.", tx.GetTxid(), tx.GetTxid())
			})
	}
}
