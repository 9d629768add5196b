package participant

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/txmeta"
)

// callVotingEarly runs a unary call's handler under tx and, when it
// succeeds and no other call of tx is in progress here, prepares tx's work
// and enlists with the YES (Config.EarlyVote). Otherwise, and after a
// read-only vote, it enlists without a vote, after the handler.
func (s *Server) callVotingEarly(ctx context.Context, tx txmeta.Tx, req any, handler grpc.UnaryHandler) (any, error) {
	if err := grpc.SetHeader(ctx, s.participantHeader()); err != nil {
		s.log.Warn("verdict: cannot set participant header", "txid", tx.ID, "err", err)
	}
	resp, herr := handler(withCallTx(ctx, tx, s), req)
	var end func(Vote)
	if herr == nil {
		end = s.txs.beginEarlyPrepare(tx.ID)
	}
	if end == nil {
		return s.joined(tx, s.enlist(ctx, tx), resp, herr)
	}
	vote, reason := s.resourcePrepare(ctx, tx.ID)
	end(vote)
	switch vote {
	case VoteNo:
		s.discard(tx.ID)
		return nil, status.Errorf(codes.Aborted, "verdict: participant %s voted no on transaction %s: %s", s.cfg.Name, tx.ID, reason)
	case VoteReadOnly:
		return s.joined(tx, s.enlist(ctx, tx), resp, nil)
	}
	if err := s.enlistVote(ctx, tx); err != nil {
		return nil, err
	}
	return resp, nil
}

// joined answers a call under tx whose handler answered resp, herr and
// whose enlistment without a vote ended with enlistErr: with the handler's
// answer once enlisted, or with the error, its work discarded (the
// transaction fenced here), if the enlistment failed or an Abort came
// meanwhile.
func (s *Server) joined(tx txmeta.Tx, enlistErr error, resp any, herr error) (any, error) {
	if enlistErr == nil {
		enlistErr = s.usable(tx)
	}
	if enlistErr != nil {
		s.discard(tx.ID)
		return nil, enlistErr
	}
	return resp, herr
}

// enlistVote enlists in tx with the YES this participant voted on its
// prepared work. Once the YES may have reached the coordinator, this
// participant never decides alone: if the enlistment fails in a way that
// does not prove the YES uncounted (the transaction is not active there,
// which also answers the retry of a counted first attempt; or the answer
// is lost), the work stays prepared and the recovery loop settles it with
// the coordinator's outcome once the call is over (recover.go). It is
// rolled back here only when nothing was sent, or the refusal proves that
// nothing was recorded (the request was invalid or over a limit: checks
// that a counted attempt would have passed for good).
func (s *Server) enlistVote(ctx context.Context, tx txmeta.Tx) error {
	e, err := s.conns.enlister(tx.Coordinators)
	if err != nil { // nothing was sent
		s.discard(tx.ID)
		return status.Errorf(codes.Unavailable, "verdict: enlist in %s: %v", tx.ID, err)
	}
	res, err := e.Do(ctx, enlistment{tx: tx, yes: true})
	if err == nil && codes.Code(res.GetCode()) == codes.OK {
		s.txs.enlist(tx.ID, tx.Deadline, s.now())
		// The coordinator's Abort may have come meanwhile (it has rolled
		// the work back). A deadline passed by this clock is no reason to
		// fail: the YES is counted, and the coordinator decides.
		if s.isFenced(tx.ID) {
			return status.Errorf(codes.FailedPrecondition, "verdict: transaction %s aborted", tx.ID)
		}
		return nil
	}
	if err == nil {
		err = status.Error(codes.Code(res.GetCode()), res.GetMessage())
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.ResourceExhausted, codes.PermissionDenied, codes.Unauthenticated:
		s.discard(tx.ID)
		return enlistError(tx.ID, err)
	}
	s.log.Warn("verdict: enlistment with a YES failed; the work stays prepared until recovery learns the outcome", "txid", tx.ID, "err", err)
	code := codes.Unknown // the work's fate is the transaction's: retrying the call cannot help
	if c := contextCode(err); c != codes.OK {
		code = c
	}
	return status.Errorf(code,
		"verdict: enlist in %s with a YES vote: %v; the work stays prepared and the recovery loop settles it with the transaction's outcome", tx.ID, err)
}

// contextCode is the code of err if it is the end of a context (a context
// error, or a status carrying its code), else OK.
func contextCode(err error) codes.Code {
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	switch c := status.Code(err); c {
	case codes.Canceled, codes.DeadlineExceeded:
		return c
	}
	return codes.OK
}
