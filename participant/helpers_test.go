package participant

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/txid"
	"github.com/verdict-tx/verdict/internal/txmeta"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// stubCoordinator is a test stand-in for the coordinator, implementing only
// Enlist and Outcome with scripted answers, for the answers the real one
// gives only under faults (errors, EXPIRED). Tests of the protocol run the
// real coordinator (live_test.go).
type stubCoordinator struct {
	verdictv1.UnimplementedCoordinatorServer
	enlists   atomic.Int32
	enlistErr error
	// refuse, if set, is the code of every per-transaction result.
	refuse codes.Code

	mu       sync.Mutex
	enlisted []*verdictv1.EnlistRequest
	outcomes map[string]verdictv1.Outcome // missing: Unavailable
	asked    []*verdictv1.OutcomeRequest
	// block, if set, runs before each Outcome is answered.
	block func(ctx context.Context, txid string)
}

func (c *stubCoordinator) Enlist(ctx context.Context, req *verdictv1.EnlistRequest) (*verdictv1.EnlistResponse, error) {
	c.enlists.Add(1)
	if c.enlistErr != nil {
		return nil, c.enlistErr
	}
	c.mu.Lock()
	c.enlisted = append(c.enlisted, req)
	c.mu.Unlock()
	resp := &verdictv1.EnlistResponse{}
	for range req.GetTxids() {
		resp.Results = append(resp.Results, &verdictv1.EnlistResult{Code: uint32(c.refuse), Message: "stub: refused"})
	}
	return resp, nil
}

func (c *stubCoordinator) Outcome(ctx context.Context, req *verdictv1.OutcomeRequest) (*verdictv1.OutcomeResponse, error) {
	if c.block != nil {
		c.block(ctx, req.GetTxid())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = append(c.asked, req)
	o, ok := c.outcomes[req.GetTxid()]
	if !ok {
		return nil, status.Error(codes.Unavailable, "stub: no leader")
	}
	return &verdictv1.OutcomeResponse{Outcome: o}, nil
}

func (c *stubCoordinator) askedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.asked)
}

// serve runs register on a gRPC server on 127.0.0.1 and returns its address.
func serve(t *testing.T, register func(*grpc.Server), opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(opts...)
	register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

func startCoordinator(t *testing.T, c *stubCoordinator) string {
	return serve(t, func(g *grpc.Server) { verdictv1.RegisterCoordinatorServer(g, c) })
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// workService is a business service behind the participant interceptor:
// Check stages req.Service as a key under the call's transaction.
type workService struct {
	healthpb.UnimplementedHealthServer
	res *MemResource
}

func (w *workService) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	tx, ok := TxFromContext(ctx)
	if !ok {
		return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_UNKNOWN}, nil
	}
	if err := w.res.Stage(tx.ID, req.GetService(), tx.ID); err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// participantEnv is a participant Server over a MemResource, serving the
// Participant service and workService on 127.0.0.1.
type participantEnv struct {
	srv  *Server
	res  *MemResource
	part verdictv1.ParticipantClient
	work healthpb.HealthClient
}

func newEnv(t *testing.T, cfg Config) *participantEnv {
	t.Helper()
	res := NewMemResource()
	cfg.Resource = res
	return newEnvOver(t, cfg, res)
}

// newEnvOver is newEnv over cfg.Resource, which does its work in res.
func newEnvOver(t *testing.T, cfg Config, res *MemResource) *participantEnv {
	t.Helper()
	cfg.Name, cfg.Address = "inventory", "10.0.0.1:9000"
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	addr := serve(t, func(g *grpc.Server) {
		srv.Register(g)
		healthpb.RegisterHealthServer(g, &workService{res: res})
	}, grpc.ChainUnaryInterceptor(srv.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(srv.StreamServerInterceptor()))
	cc := dial(t, addr)
	return &participantEnv{srv: srv, res: res, part: verdictv1.NewParticipantClient(cc), work: healthpb.NewHealthClient(cc)}
}

// serveParticipant runs a Server over res, with coords as its
// coordinators, serving only the Participant service on 127.0.0.1.
func serveParticipant(t *testing.T, res Resource, coords ...string) (*Server, verdictv1.ParticipantClient) {
	t.Helper()
	srv, err := NewServer(Config{Name: "inventory", Address: "10.0.0.1:9000", Resource: res, Coordinators: coords})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv, verdictv1.NewParticipantClient(dial(t, serve(t, func(g *grpc.Server) { srv.Register(g) })))
}

func newTxID(t *testing.T) string {
	t.Helper()
	id, err := txid.New()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// underTx returns a context whose outgoing metadata carries tx.
func underTx(ctx context.Context, tx txmeta.Tx) context.Context {
	md := metadata.MD{}
	tx.Append(md)
	return metadata.NewOutgoingContext(ctx, md)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func decision(ids ...string) *verdictv1.DecisionRequest {
	return &verdictv1.DecisionRequest{Txids: ids}
}
