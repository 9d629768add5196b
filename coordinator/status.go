package coordinator

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/abortinfo"
)

// The engine's errors as callers see them: one table from each engine
// sentinel error to its gRPC code, applied at the edge (the services and
// the forwarder) and nowhere else.

// codeOf maps each engine error to the gRPC code callers see.
var codeOf = []struct {
	err  error
	code codes.Code
}{
	{engine.ErrNotLeader, codes.Unavailable},
	{engine.ErrUnavailable, codes.Unavailable},
	{engine.ErrUnknownTx, codes.NotFound},
	{engine.ErrNotActive, codes.FailedPrecondition},
	{engine.ErrNoNATS, codes.FailedPrecondition},
	{engine.ErrLimit, codes.ResourceExhausted},
	{engine.ErrInvalid, codes.InvalidArgument},
	{engine.ErrInternal, codes.Internal},
}

// toStatus turns it into a gRPC status at the edge.
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

// abortedError marks the refusal of a Commit that aborted the transaction;
// the status carries the aborted mark (internal/abortinfo).
type abortedError struct{ error }

func (e abortedError) Unwrap() error { return e.error }

// toStatus turns an engine error into the gRPC status callers see. A status
// already (from edge code or a forwarded call) is returned as it is; a
// context error (wrapped or not) becomes Canceled or DeadlineExceeded.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	code := codes.Unknown
	for _, m := range codeOf {
		if errors.Is(err, m.err) {
			code = m.code
			break
		}
	}
	st := status.New(code, err.Error())
	if errors.Is(err, engine.ErrAborted) {
		return abortinfo.Mark(st)
	}
	return st.Err()
}
