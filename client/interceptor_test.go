package client

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/txmeta"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// echoParticipant is a test server that plays a participant: it reports the
// transaction metadata it received and answers that it enlisted, as the
// participant SDK's interceptor does.
type echoParticipant struct {
	verdictv1.UnimplementedParticipantServer
	healthpb.UnimplementedHealthServer
	name string
	seen chan metadata.MD
}

const failTxid = "fail"

func (p *echoParticipant) Prepare(ctx context.Context, req *verdictv1.PrepareRequest) (*verdictv1.PrepareResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	p.seen <- md
	if len(md.Get(txmeta.KeyTxID)) > 0 {
		if err := grpc.SetHeader(ctx, metadata.Pairs(txmeta.KeyParticipant, p.name+"=10.0.0.1:9")); err != nil {
			return nil, err
		}
	}
	if len(req.GetTxids()) > 0 && req.GetTxids()[0] == failTxid {
		return nil, status.Error(codes.Internal, "handler failed after enlisting")
	}
	return &verdictv1.PrepareResponse{Votes: []*verdictv1.PrepareVote{{Vote: verdictv1.Vote_VOTE_YES}}}, nil
}

func (p *echoParticipant) Watch(req *healthpb.HealthCheckRequest, s healthpb.Health_WatchServer) error {
	md, _ := metadata.FromIncomingContext(s.Context())
	p.seen <- md
	if err := s.SetHeader(metadata.Pairs(txmeta.KeyParticipant, p.name+"=10.0.0.2:9")); err != nil {
		return err
	}
	return s.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
}

func startEcho(t *testing.T, name string) (*echoParticipant, *grpc.ClientConn) {
	t.Helper()
	p := &echoParticipant{name: name, seen: make(chan metadata.MD, 10)}
	addr := serve(t, func(g *grpc.Server) {
		verdictv1.RegisterParticipantServer(g, p)
		healthpb.RegisterHealthServer(g, p)
	})
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(UnaryClientInterceptor()),
		grpc.WithStreamInterceptor(StreamClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return p, cc
}

func TestInterceptorCarriesTransaction(t *testing.T) {
	c, _ := newStubClient(t)
	ctx := testContext(t)
	tx, err := c.Begin(ctx, WithTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	p, cc := startEcho(t, "inventory")
	pc := verdictv1.NewParticipantClient(cc)

	// A caller's own metadata survives.
	callCtx := metadata.AppendToOutgoingContext(tx.Context(ctx), "x-user", "alice")
	if _, err := pc.Prepare(callCtx, &verdictv1.PrepareRequest{}); err != nil {
		t.Fatal(err)
	}
	md := <-p.seen
	got, ok, err := txmeta.FromMD(md)
	if !ok || err != nil {
		t.Fatalf("FromMD: ok=%v err=%v md=%v", ok, err, md)
	}
	if got.ID != tx.ID() || !slices.Equal(got.Coordinators, []string{"coord-a:1", "coord-b:1"}) ||
		got.Deadline.UnixMilli() != tx.Deadline().UnixMilli() {
		t.Errorf("server saw %+v, want id %s deadline %v", got, tx.ID(), tx.Deadline())
	}
	if v := md.Get("x-user"); len(v) != 1 || v[0] != "alice" {
		t.Errorf("x-user = %v", v)
	}
	if want := strconv.FormatInt(tx.Deadline().UnixMilli(), 10); md.Get(txmeta.KeyDeadline)[0] != want {
		t.Errorf("deadline = %v, want %s", md.Get(txmeta.KeyDeadline), want)
	}

	// A participant that enlists and then fails is recorded too.
	if _, err := pc.Prepare(tx.Context(ctx), &verdictv1.PrepareRequest{Txids: []string{failTxid}}); status.Code(err) != codes.Internal {
		t.Fatalf("err = %v, want Internal", err)
	}
	<-p.seen

	// Streams carry it too.
	ws, err := healthpb.NewHealthClient(cc).Watch(tx.Context(ctx), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Recv(); err != nil {
		t.Fatal(err)
	}
	if md := <-p.seen; len(md.Get(txmeta.KeyTxID)) != 1 || md.Get(txmeta.KeyTxID)[0] != tx.ID() {
		t.Errorf("stream metadata = %v", md)
	}

	parts := tx.Participants()
	var names []string
	for _, r := range parts {
		names = append(names, fmt.Sprintf("%s=%s", r.Name, r.Address))
	}
	if want := []string{"inventory=10.0.0.1:9", "inventory=10.0.0.2:9"}; !slices.Equal(names, want) {
		t.Errorf("participants = %v, want %v", names, want)
	}
}

func TestInterceptorWithoutTransaction(t *testing.T) {
	p, cc := startEcho(t, "inventory")
	if _, err := verdictv1.NewParticipantClient(cc).Prepare(context.Background(), &verdictv1.PrepareRequest{}); err != nil {
		t.Fatal(err)
	}
	if md := <-p.seen; len(md.Get(txmeta.KeyTxID)) != 0 {
		t.Errorf("metadata without a transaction: %v", md)
	}
}

func TestCommitSendsParticipants(t *testing.T) {
	c, stub := newStubClient(t)
	ctx := testContext(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, cc := startEcho(t, "ledger")
	if _, err := verdictv1.NewParticipantClient(cc).Prepare(tx.Context(ctx), &verdictv1.PrepareRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	stub.mu.Lock()
	defer stub.mu.Unlock()
	req := stub.commits[0]
	if req.GetTxid() != tx.ID() || len(req.GetParticipants()) != 1 || req.GetParticipants()[0].GetName() != "ledger" {
		t.Errorf("commit request = %v", req)
	}
}
