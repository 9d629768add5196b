package coordinator

import (
	"context"
	"errors"

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
