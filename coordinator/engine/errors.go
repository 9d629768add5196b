package engine

import (
	"errors"
	"fmt"
)

// The engine's errors. Each error the engine returns wraps one of them
// (errors.Is finds it) and carries the whole message the caller sees;
// the node turns it into a gRPC status at its edge (coordinator/status.go).
var (
	// ErrNotLeader: this node is not the leader (or no longer).
	ErrNotLeader = errors.New("verdict: this node is not the leader")
	// ErrUnavailable: the answer is not known now (leadership changed,
	// outcome unknown, record perhaps not logged); ask again.
	ErrUnavailable = errors.New("verdict: unavailable")
	// ErrUnknownTx: the transaction is unknown to this node.
	ErrUnknownTx = errors.New("verdict: transaction not found")
	// ErrNotActive: the transaction is not in the state the call needs
	// (decided, preparing, past its deadline, nothing to do).
	ErrNotActive = errors.New("verdict: transaction not in a state for this")
	// ErrNoNATS: transactional messages are off (no NATS configured).
	ErrNoNATS = errors.New("verdict: transactional messages are off")
	// ErrLimit: a configured limit is reached.
	ErrLimit = errors.New("verdict: limit reached")
	// ErrInvalid: the request is contradictory or malformed.
	ErrInvalid = errors.New("verdict: invalid request")
	// ErrInternal: a fault of this node.
	ErrInternal = errors.New("verdict: internal error")
	// ErrAborted marks, beside its kind, the refusal of a Commit that
	// aborted the transaction (a limit broken at Commit).
	ErrAborted = errors.New("verdict: the transaction is aborted")
)

// engineError is an engine error: kind is the sentinel, msg the message.
type engineError struct {
	kind error
	msg  string
}

func (e *engineError) Error() string { return e.msg }
func (e *engineError) Unwrap() error { return e.kind }

// errorf returns an error of the given kind with a formatted message.
func errorf(kind error, format string, args ...any) error {
	return &engineError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// abortedError marks the refusal of a Commit that aborted the transaction
// (errors.Is finds ErrAborted in it).
type abortedError struct{ error }

func (e abortedError) Unwrap() error        { return e.error }
func (e abortedError) Is(target error) bool { return target == ErrAborted }
