package coordinator

import (
	"context"

	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/tracing"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// service is the Coordinator gRPC service: it validates every request,
// forwards it to the leader if this node is not the leader, and otherwise
// hands it to the engine.
type service struct {
	verdictv1.UnimplementedCoordinatorServer
	c   *engine.Engine
	fwd *forwarder
	// maxParticipants bounds the participants a request may name.
	maxParticipants int
}

func (s *service) Begin(ctx context.Context, req *verdictv1.BeginRequest) (*verdictv1.BeginResponse, error) {
	resp, err := forward(ctx, s.fwd, req, func(ctx context.Context, req *verdictv1.BeginRequest) (*verdictv1.BeginResponse, error) {
		return s.c.Begin(ctx, s.fwd.auth.identity(ctx), req)
	}, verdictv1.CoordinatorClient.Begin)
	if err == nil {
		tracing.Annotate(ctx, resp.GetTxid())
	}
	return resp, err
}

func (s *service) Enlist(ctx context.Context, req *verdictv1.EnlistRequest) (*verdictv1.EnlistResponse, error) {
	if err := validateEnlist(req); err != nil {
		return nil, err
	}
	if ids := req.GetTxids(); len(ids) == 1 {
		tracing.Annotate(ctx, ids[0])
	}
	return forward(ctx, s.fwd, req, s.enlist, verdictv1.CoordinatorClient.Enlist)
}

func (s *service) Commit(ctx context.Context, req *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
	if err := validateCommit(req, s.maxParticipants); err != nil {
		return nil, err
	}
	tracing.Annotate(ctx, req.GetTxid())
	return forward(ctx, s.fwd, req, func(ctx context.Context, req *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
		return s.c.Commit(ctx, s.fwd.auth.identity(ctx), req)
	}, verdictv1.CoordinatorClient.Commit)
}

func (s *service) StageMessages(ctx context.Context, req *verdictv1.StageMessagesRequest) (*verdictv1.StageMessagesResponse, error) {
	if err := validateStageMessages(req); err != nil {
		return nil, err
	}
	return forward(ctx, s.fwd, req, s.c.StageMessages, verdictv1.CoordinatorClient.StageMessages)
}

func (s *service) Abort(ctx context.Context, req *verdictv1.AbortRequest) (*verdictv1.AbortResponse, error) {
	if err := validateTxid(req.GetTxid()); err != nil {
		return nil, err
	}
	if err := validateReason(req.GetReason()); err != nil {
		return nil, err
	}
	tracing.Annotate(ctx, req.GetTxid())
	return forward(ctx, s.fwd, req, s.c.Abort, verdictv1.CoordinatorClient.Abort)
}

func (s *service) Outcome(ctx context.Context, req *verdictv1.OutcomeRequest) (*verdictv1.OutcomeResponse, error) {
	if err := validateOutcome(req, s.maxParticipants); err != nil {
		return nil, err
	}
	return forward(ctx, s.fwd, req, s.c.Outcome, verdictv1.CoordinatorClient.Outcome)
}

func (s *service) GetTransaction(ctx context.Context, req *verdictv1.GetTransactionRequest) (*verdictv1.GetTransactionResponse, error) {
	if err := validateTxid(req.GetTxid()); err != nil {
		return nil, err
	}
	return forward(ctx, s.fwd, req, s.c.GetTransaction, verdictv1.CoordinatorClient.GetTransaction)
}

func (s *service) ListTransactions(ctx context.Context, req *verdictv1.ListTransactionsRequest) (*verdictv1.ListTransactionsResponse, error) {
	if err := validateList(req); err != nil {
		return nil, err
	}
	return forward(ctx, s.fwd, req, s.c.ListTransactions, verdictv1.CoordinatorClient.ListTransactions)
}

// enlist is the leader's Enlist: each transaction's error becomes its
// result's status.
func (s *service) enlist(ctx context.Context, req *verdictv1.EnlistRequest) (*verdictv1.EnlistResponse, error) {
	errs, err := s.c.Enlist(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := &verdictv1.EnlistResponse{Results: make([]*verdictv1.EnlistResult, len(errs))}
	for i, err := range errs {
		st := status.Convert(toStatus(err))
		resp.Results[i] = &verdictv1.EnlistResult{Code: uint32(st.Code()), Message: st.Message()}
	}
	return resp, nil
}
