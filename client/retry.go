package client

import (
	"context"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The backoff between the attempts of a call that waits out a leader change
// or an undecided transaction (Begin, Commit, Abort, Outcome). The
// connection already tries each coordinator node in turn; these calls then
// keep asking for as long as their context allows.
const (
	firstBackoff = 10 * time.Millisecond
	// The cap is short so that, after a leader change, the first attempt
	// at the new leader comes soon after it is elected.
	maxBackoff = 200 * time.Millisecond
)

// retry calls attempt until it returns nil or an error that retryable
// refuses (returned as it is), waiting a jittered exponential backoff
// between attempts. exhausted is set, with the last error, when ctx ended
// first.
func retry(ctx context.Context, attempt func() error) (exhausted bool, err error) {
	backoff := firstBackoff
	for {
		if err = attempt(); err == nil || !retryable(err) {
			return false, err
		}
		if ctx.Err() != nil {
			return true, err
		}
		// Full jitter keeps many clients from retrying in step.
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return true, err
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// retryable reports whether a call that failed with err may be made again:
// every error but the codes by which the coordinator rejects a request
// without acting on it, which asking again cannot change.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition,
		codes.AlreadyExists, codes.PermissionDenied, codes.Unauthenticated,
		codes.Unimplemented, codes.OutOfRange, codes.ResourceExhausted:
		return false
	}
	return true
}
