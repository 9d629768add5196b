package postgres

import (
	"errors"
	"fmt"
)

// Errors of RunInTx.
var (
	// ErrNoTransaction: the context carries no Verdict transaction (the
	// call did not come through participant.Server's interceptor).
	ErrNoTransaction = errors.New("verdict/postgres: no Verdict transaction in the context")
	// ErrAborted: the transaction is aborted here (fenced) or past its
	// deadline; its work is refused or rolled back.
	ErrAborted = errors.New("verdict/postgres: transaction aborted")
	// ErrWorkDone: the transaction already has work here that is in
	// progress or prepared. Each transaction does its writing work in one
	// RunInTx call per participant: the end of that call prepares it, and
	// a second PostgreSQL transaction could neither see its writes nor
	// take its locks (it would wait on them until the outcome, which
	// waits for this call). Calls that wrote nothing, or whose work
	// failed, leave the way open for another.
	ErrWorkDone = errors.New("verdict/postgres: transaction already did its work at this participant")
	// ErrTxControl is returned by Commit and Rollback of the pgx.Tx handed
	// to the work function: the Resource ends the transaction, by
	// preparing it. Return an error from the function to discard the
	// work.
	ErrTxControl = errors.New("verdict/postgres: the transaction is ended by RunInTx, not by the work function")
)

// errorf wraps sentinel with a detail.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
