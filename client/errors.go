package client

import (
	"errors"
	"fmt"
)

// ErrTxDone is returned by Commit or Abort on a transaction that Commit or
// Abort was already called on, whatever that call returned. It makes
// `defer tx.Abort(ctx, "...")` safe after a Commit.
var ErrTxDone = errors.New("verdict: transaction already committed or aborted")

// ErrAborted matches, through errors.Is, every *AbortedError.
var ErrAborted = errors.New("verdict: transaction aborted")

// ErrAmbiguous matches, through errors.Is, every *AmbiguousError: the
// caller does not know whether the transaction committed.
var ErrAmbiguous = errors.New("verdict: transaction outcome unknown")

// AbortedError reports that the coordinator decided ABORTED for the
// transaction, or refused to commit it because it does not know it (presumed
// abort: a transaction is never committed unless the leader knows it), or,
// from Client.Run, that the function failed and the abort was confirmed. No
// participant applies its work.
type AbortedError struct {
	TxID   string
	Reason string
	// Err is the cause, if any: the error of Run's function, or the gRPC
	// error of a Commit the coordinator refused for a limit (staged
	// messages too large or off, too many participant addresses), which
	// aborted the transaction at once.
	Err error
}

func (e *AbortedError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("verdict: transaction %s aborted", e.TxID)
	}
	return fmt.Sprintf("verdict: transaction %s aborted: %s", e.TxID, e.Reason)
}

// Is reports whether target is ErrAborted.
func (e *AbortedError) Is(target error) bool { return target == ErrAborted }

// Unwrap returns the cause.
func (e *AbortedError) Unwrap() error { return e.Err }

// AmbiguousError reports that the outcome could not be learned: the
// coordinator may have logged COMMIT, in which case every participant will
// apply the work, or it may have aborted. It is never an abort. Client.Outcome
// learns the outcome later, given TxID and Participants. Err is the last
// error seen.
type AmbiguousError struct {
	TxID string
	// Participants are those the transaction saw enlist: pass them to
	// Client.Outcome.
	Participants []Participant
	Err          error
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("verdict: transaction %s: outcome unknown (it may have committed): %v", e.TxID, e.Err)
}

// Is reports whether target is ErrAmbiguous.
func (e *AmbiguousError) Is(target error) bool { return target == ErrAmbiguous }

// Unwrap returns the cause.
func (e *AmbiguousError) Unwrap() error { return e.Err }
