package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/verdict-tx/verdict/internal/coordconn"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func setupTxForget(fs *flag.FlagSet) func(e *env, args []string) int {
	participant := fs.String("participant", "", "the participant whose phase 2 you resolve by hand (required)")
	reason := fs.String("reason", "", "why: recorded, audited and published (required)")
	operator := operatorFlag(fs)
	return func(e *env, args []string) int {
		if *participant == "" || strings.TrimSpace(*reason) == "" {
			fmt.Fprintln(e.stderr, "verdictctl tx forget: --participant and --reason are required")
			return exitUsage
		}
		return txCommand(e, "tx forget", args,
			func(ctx context.Context, conn *coordconn.Conn, id string) (*verdictv1.Transaction, error) {
				resp, err := conn.Admin().ForgetTransaction(ctx, &verdictv1.ForgetTransactionRequest{
					Txid: id, Participant: *participant, Reason: *reason, Operator: *operator,
				})
				return resp.GetTransaction(), err
			},
			func(tx *verdictv1.Transaction) string {
				return fmt.Sprintf("Participant %s of %s resolved heuristically: phase 2 no longer waits for it.\n"+
					"The decision was %s: repair %s's data by hand if it ever comes back.",
					*participant, tx.GetTxid(), stateName(tx.GetState()), *participant)
			})
	}
}
