// Package worksvc is a tiny business gRPC service, "verdict.work.Work/Stage",
// that stages one key/value write into a participant's resource (a
// participant.MemResource, or any other) under the caller's transaction.
// The benchmark and the end-to-end tests call it as the "call to another
// service" that makes a participant enlist.
//
// It lives in verdicttest/, the home of test and benchmark support that
// builds on the SDKs: not in internal/, whose packages are foundations the
// SDKs and the coordinator themselves import (and so must not import an
// SDK), and not in participant/, whose packages are the participant SDK's
// API, which a stand-in business service is no part of. verdictctl bench,
// the chaos suite and the coordinator's end-to-end tests share it.
package worksvc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/verdict-tx/verdict/participant"
)

const method = "/verdict.work.Work/Stage"

// Register serves the Work service on s, staging writes into res: key is
// written with the transaction's id as its value.
func Register(s *grpc.Server, res *participant.MemResource) {
	RegisterFunc(s, func(_ context.Context, txid, key string) error { return res.Stage(txid, key, txid) })
}

// RegisterFunc serves the Work service on s, staging each call's key
// through stage under the call's transaction; ctx is the call's (it
// carries the transaction: participant.TxFromContext).
func RegisterFunc(s *grpc.Server, stage func(ctx context.Context, txid, key string) error) {
	register(s, func(ctx context.Context, key string) error {
		tx, ok := participant.TxFromContext(ctx)
		if !ok {
			return status.Error(codes.FailedPrecondition, "work: call carries no transaction")
		}
		if err := stage(ctx, tx.ID, key); err != nil {
			return status.Error(codes.FailedPrecondition, err.Error())
		}
		return nil
	})
}

// RegisterFloor serves the Work service on s with no coordinator: each call
// does the work a participant does for one transaction, alone (it stages
// key under the id key, prepares and commits it in res). It is the floor
// the benchmark measures Verdict against (verdictctl bench --scenario
// mem-floor): the same calls to the same services, without Begin, Enlist,
// Prepare and Commit.
func RegisterFloor(s *grpc.Server, res *participant.MemResource) {
	register(s, func(ctx context.Context, key string) error {
		err := res.Stage(key, key, key)
		if err == nil {
			_, err = res.Prepare(ctx, key)
		}
		if err == nil {
			err = res.Commit(ctx, key)
		}
		if err != nil {
			return status.Error(codes.FailedPrecondition, err.Error())
		}
		return nil
	})
}

// register serves the Work service on s, handling each call's key.
func register(s *grpc.Server, handle func(ctx context.Context, key string) error) {
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
				h := func(ctx context.Context, req any) (any, error) {
					if err := handle(ctx, req.(*wrapperspb.StringValue).GetValue()); err != nil {
						return nil, err
					}
					return &emptypb.Empty{}, nil
				}
				if ic == nil {
					return h(ctx, in)
				}
				return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: method}, h)
			},
		}},
	}, struct{}{})
}

// Stage calls the Work service on conn: key is written with the
// transaction's id as its value. ctx must carry the transaction (and conn
// the client SDK's interceptor).
func Stage(ctx context.Context, conn grpc.ClientConnInterface, key string) error {
	return conn.Invoke(ctx, method, wrapperspb.String(key), new(emptypb.Empty))
}
