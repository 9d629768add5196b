package coordinator

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// The Admin service's transaction actions: validated and audited here,
// served by the leader's engine.

// AbortTransaction aborts an undecided transaction for an operator; the
// leader serves it.
func (a *admin) AbortTransaction(ctx context.Context, req *verdictv1.AbortTransactionRequest) (*verdictv1.AbortTransactionResponse, error) {
	who, err := a.operatorAction(ctx, req.GetTxid(), req.GetReason(), req.GetOperator(), nil)
	if err != nil {
		return nil, err
	}
	req.Operator = who
	return forwardAdmin(ctx, a.fwd, req, a.coord.AbortTransaction, verdictv1.AdminClient.AbortTransaction)
}

// RetryTransaction re-drives phase 2 of an undone decision at once; the
// leader serves it.
func (a *admin) RetryTransaction(ctx context.Context, req *verdictv1.RetryTransactionRequest) (*verdictv1.RetryTransactionResponse, error) {
	if err := validateTxid(req.GetTxid()); err != nil {
		return nil, err
	}
	return forwardAdmin(ctx, a.fwd, req, a.coord.Retry, verdictv1.AdminClient.RetryTransaction)
}

// ForgetTransaction resolves one participant's phase 2 heuristically for
// an operator; the leader serves it.
func (a *admin) ForgetTransaction(ctx context.Context, req *verdictv1.ForgetTransactionRequest) (*verdictv1.ForgetTransactionResponse, error) {
	who, err := a.operatorAction(ctx, req.GetTxid(), req.GetReason(), req.GetOperator(), func() error {
		if err := validateParticipantName(req.GetParticipant()); err != nil {
			return err
		}
		if strings.TrimSpace(req.GetReason()) == "" {
			return status.Error(codes.InvalidArgument, "verdict: a heuristic resolution needs a reason (it is audited)")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	req.Operator = who
	return forwardAdmin(ctx, a.fwd, req, a.coord.Forget, verdictv1.AdminClient.ForgetTransaction)
}
