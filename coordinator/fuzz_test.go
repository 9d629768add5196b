package coordinator

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// coordinatorCall decodes bytes as one Coordinator request and serves it.
type coordinatorCall func(ctx context.Context, s *service, b []byte) error

// serve decodes b into a new Req and hands it to handle; bytes that are no
// Req are not a request (gRPC refuses them before any handler).
func serve[Req proto.Message, Resp any](newReq func() Req, handle func(*service, context.Context, Req) (Resp, error)) coordinatorCall {
	return func(ctx context.Context, s *service, b []byte) error {
		req := newReq()
		if proto.Unmarshal(b, req) != nil {
			return nil
		}
		_, err := handle(s, ctx, req)
		return err
	}
}

// coordinatorCalls are the Coordinator service's methods, by fuzz kind.
var coordinatorCalls = []coordinatorCall{
	serve(func() *verdictv1.BeginRequest { return &verdictv1.BeginRequest{} }, (*service).Begin),
	serve(func() *verdictv1.EnlistRequest { return &verdictv1.EnlistRequest{} }, (*service).Enlist),
	serve(func() *verdictv1.CommitRequest { return &verdictv1.CommitRequest{} }, (*service).Commit),
	serve(func() *verdictv1.AbortRequest { return &verdictv1.AbortRequest{} }, (*service).Abort),
	serve(func() *verdictv1.OutcomeRequest { return &verdictv1.OutcomeRequest{} }, (*service).Outcome),
	serve(func() *verdictv1.GetTransactionRequest { return &verdictv1.GetTransactionRequest{} }, (*service).GetTransaction),
	serve(func() *verdictv1.ListTransactionsRequest { return &verdictv1.ListTransactionsRequest{} }, (*service).ListTransactions),
	serve(func() *verdictv1.StageMessagesRequest { return &verdictv1.StageMessagesRequest{} }, (*service).StageMessages),
}

// FuzzCoordinatorRequests feeds arbitrary bytes, decoded as each
// Coordinator request, to the service of a running single node: nothing
// panics, every error is a gRPC status with a deliberate code, and the node
// keeps serving.
func FuzzCoordinatorRequests(f *testing.F) {
	c := newCluster(f, 1)
	lead := c.leader()
	s := &service{c: lead.coord, fwd: lead.fwd}
	ctx := context.Background()
	begun, err := s.Begin(ctx, &verdictv1.BeginRequest{TimeoutMs: 60_000})
	if err != nil {
		f.Fatal(err)
	}
	id := begun.GetTxid()
	ref := &verdictv1.ParticipantRef{Name: "p1", Address: "127.0.0.1:1"}
	// Seeds by kind (the index in coordinatorCalls), valid requests first.
	seeds := [][]proto.Message{
		{&verdictv1.BeginRequest{}, &verdictv1.BeginRequest{TimeoutMs: 1000}, &verdictv1.BeginRequest{TimeoutMs: -1}},
		{&verdictv1.EnlistRequest{Participant: ref, Txids: []string{id}}, &verdictv1.EnlistRequest{Participant: ref, Txids: []string{"x"}}},
		{&verdictv1.CommitRequest{Txid: id}, &verdictv1.CommitRequest{Txid: id, Participants: []*verdictv1.ParticipantRef{ref, {Name: "p1", Address: "h:2"}}}},
		{&verdictv1.AbortRequest{Txid: id, Reason: "fuzz"}},
		{&verdictv1.OutcomeRequest{Txid: id}},
		{&verdictv1.GetTransactionRequest{Txid: id}},
		{&verdictv1.ListTransactionsRequest{Limit: 10, State: verdictv1.TxState_TX_STATE_COMMITTED}, &verdictv1.ListTransactionsRequest{Limit: -1, AfterTxid: "zz", Stuck: true}},
		{&verdictv1.StageMessagesRequest{Txid: id, Messages: []*verdictv1.StagedMessage{{Subject: "a.b", Data: []byte("x")}}}},
	}
	for kind, msgs := range seeds {
		for _, m := range msgs {
			b, err := proto.Marshal(m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(kind), b)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := coordinatorCalls[int(kind)%len(coordinatorCalls)](ctx, s, b)
		st, ok := status.FromError(err)
		if !ok {
			t.Fatalf("kind %d: error %v is not a gRPC status", kind, err)
		}
		if code := st.Code(); code == codes.Unknown || code == codes.Internal {
			t.Fatalf("kind %d: answered %v: %s", kind, code, st.Message())
		}
	})
	if _, err := s.Begin(ctx, &verdictv1.BeginRequest{}); err != nil {
		f.Fatalf("the node stopped serving: %v", err)
	}
}
