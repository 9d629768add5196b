package main

import (
	"context"
	"flag"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/verdict-tx/verdict/internal/coordconn"
)

// callCluster is the body of a command that makes one call to the cluster:
// it dials (following the leader), calls within the call timeout, and
// prints the answer, as JSON with -o json and through show otherwise.
func callCluster[M proto.Message](e *env, cmd string, call func(context.Context, *coordconn.Conn) (M, error), show func(M)) int {
	conn, code := e.dialCluster()
	if conn == nil {
		return code
	}
	defer conn.Close()
	ctx, cancel := e.callContext()
	defer cancel()
	resp, err := call(ctx, conn)
	if err != nil {
		return e.fail(cmd, err)
	}
	if e.json() {
		return e.writeJSONOrFail(resp)
	}
	show(resp)
	return exitOK
}

// operatorFlag defines --operator: who runs an operator's action, recorded
// with it (the coordinator adds the address the request came from).
func operatorFlag(fs *flag.FlagSet) *string {
	return fs.String("operator", os.Getenv("USER"), "who you are, recorded with the action (default $USER)")
}
