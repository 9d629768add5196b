// Package abortinfo marks a gRPC error that also means "the transaction is
// aborted": the coordinator refuses a Commit that breaks a limit (too many
// participant addresses, staged messages too large or off) with the status
// code of the refusal, and aborts the transaction at once. The mark, an
// ErrorInfo detail, lets the client SDK report the abort as such (an
// AbortedError) instead of as a call the coordinator did not act on.
package abortinfo

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// The ErrorInfo that marks an aborted transaction.
const (
	Domain = "verdict.v1"
	Reason = "TRANSACTION_ABORTED"
)

// Mark returns st's error with the aborted mark.
func Mark(st *status.Status) error {
	marked, err := st.WithDetails(&errdetails.ErrorInfo{Domain: Domain, Reason: Reason})
	if err != nil {
		return st.Err() // only for a status of code OK, which is no refusal
	}
	return marked.Err()
}

// Marked reports whether err is a gRPC error with the aborted mark.
func Marked(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain && info.GetReason() == Reason {
			return true
		}
	}
	return false
}
