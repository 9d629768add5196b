package main

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/verdict-tx/verdict/chaos/journal"
	"github.com/verdict-tx/verdict/participant"
)

// registerWork serves "verdict.work.Work/Stage" (the method
// internal/worksvc.Stage calls) on s, staging work in res under the call's
// transaction. The request's key is ignored: the journal records the
// transaction, not the data.
func registerWork(s *grpc.Server, res *journal.Resource) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "verdict.work.Work",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Stage",
			Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.StringValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				h := func(ctx context.Context, _ any) (any, error) { return stage(ctx, res) }
				if ic == nil {
					return h(ctx, in)
				}
				return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/verdict.work.Work/Stage"}, h)
			},
		}},
	}, struct{}{})
}

func stage(ctx context.Context, res *journal.Resource) (*emptypb.Empty, error) {
	tx, ok := participant.TxFromContext(ctx)
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "work: call carries no transaction")
	}
	if err := res.Stage(tx.ID); err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &emptypb.Empty{}, nil
}
