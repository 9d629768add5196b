package main

import (
	"flag"
	"fmt"
	"time"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func setupTxRetry(fs *flag.FlagSet) func(e *env, args []string) int {
	return func(e *env, args []string) int {
		id, ok := e.txidArg("tx retry", args)
		if !ok {
			return exitUsage
		}
		conn, code := e.dialCluster()
		if conn == nil {
			return code
		}
		defer conn.Close()
		ctx, cancel := e.callContext()
		defer cancel()
		resp, err := conn.Admin().RetryTransaction(ctx, &verdictv1.RetryTransactionRequest{Txid: id})
		if err != nil {
			return e.fail("tx retry", err)
		}
		tx := resp.GetTransaction()
		if e.json() {
			if err := writeProtoJSON(e.stdout, tx); err != nil {
				return e.fail("write", err)
			}
			return exitOK
		}
		fmt.Fprintf(e.stdout, "Phase 2 of %s re-driven now; `verdictctl tx show %s` follows it.\n\n", id, id)
		printTx(e.stdout, tx, time.Now())
		return exitOK
	}
}
