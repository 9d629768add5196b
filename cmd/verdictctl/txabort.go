package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/verdict-tx/verdict/internal/coordconn"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func setupTxAbort(fs *flag.FlagSet) func(e *env, args []string) int {
	reason := fs.String("reason", "", "why, recorded as the abort's reason")
	operator := operatorFlag(fs)
	return func(e *env, args []string) int {
		return txCommand(e, "tx abort", args,
			func(ctx context.Context, conn *coordconn.Conn, id string) (*verdictv1.Transaction, error) {
				resp, err := conn.Admin().AbortTransaction(ctx, &verdictv1.AbortTransactionRequest{Txid: id, Reason: *reason, Operator: *operator})
				return resp.GetTransaction(), err
			},
			func(tx *verdictv1.Transaction) string {
				return fmt.Sprintf("Transaction %s aborted; its participants are told to abort.", tx.GetTxid())
			})
	}
}
