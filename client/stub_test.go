package client

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// stubCoordinator is a test stand-in for the coordinator: Begin hands out
// ids, and Begin, Commit, Abort and Outcome answer what the test scripts. It is not the real
// coordinator; end-to-end tests against that live elsewhere.
type stubCoordinator struct {
	verdictv1.UnimplementedCoordinatorServer

	mu       sync.Mutex
	begin    func(n int) error // the error of the nth Begin, if any
	begins   int
	commit   func(n int, req *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error)
	commits  []*verdictv1.CommitRequest
	abort    func(n int) error // the error of the nth Abort, if any
	aborts   []*verdictv1.AbortRequest
	outcome  func(n int) (*verdictv1.OutcomeResponse, error)
	outcomes []*verdictv1.OutcomeRequest
}

func (s *stubCoordinator) Begin(ctx context.Context, req *verdictv1.BeginRequest) (*verdictv1.BeginResponse, error) {
	s.mu.Lock()
	s.begins++
	n, fn := s.begins, s.begin
	s.mu.Unlock()
	if fn != nil {
		if err := fn(n); err != nil {
			return nil, err
		}
	}
	id, err := txid.New()
	if err != nil {
		return nil, err
	}
	return &verdictv1.BeginResponse{
		Txid:           id,
		DeadlineUnixMs: time.Now().Add(time.Duration(req.GetTimeoutMs()) * time.Millisecond).UnixMilli(),
		Coordinators:   []string{"coord-a:1", "coord-b:1"},
	}, nil
}

func (s *stubCoordinator) Commit(ctx context.Context, req *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
	s.mu.Lock()
	s.commits = append(s.commits, req)
	n, fn := len(s.commits), s.commit
	s.mu.Unlock()
	if fn == nil {
		return &verdictv1.CommitResponse{Outcome: verdictv1.Outcome_OUTCOME_COMMITTED}, nil
	}
	return fn(n, req)
}

func (s *stubCoordinator) Abort(ctx context.Context, req *verdictv1.AbortRequest) (*verdictv1.AbortResponse, error) {
	s.mu.Lock()
	s.aborts = append(s.aborts, req)
	n, fn := len(s.aborts), s.abort
	s.mu.Unlock()
	if fn != nil {
		if err := fn(n); err != nil {
			return nil, err
		}
	}
	return &verdictv1.AbortResponse{Outcome: verdictv1.Outcome_OUTCOME_ABORTED}, nil
}

func (s *stubCoordinator) Outcome(ctx context.Context, req *verdictv1.OutcomeRequest) (*verdictv1.OutcomeResponse, error) {
	s.mu.Lock()
	s.outcomes = append(s.outcomes, req)
	n, fn := len(s.outcomes), s.outcome
	s.mu.Unlock()
	if fn == nil {
		return &verdictv1.OutcomeResponse{Outcome: verdictv1.Outcome_OUTCOME_COMMITTED}, nil
	}
	return fn(n)
}

func (s *stubCoordinator) counts() (commits, aborts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.commits), len(s.aborts)
}

// serve runs register on a gRPC server listening on 127.0.0.1 and returns
// its address; the server stops at the end of the test.
func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// newStubClient returns a Client of a fresh stubCoordinator.
func newStubClient(t *testing.T) (*Client, *stubCoordinator) {
	t.Helper()
	stub := &stubCoordinator{}
	addr := serve(t, func(g *grpc.Server) { verdictv1.RegisterCoordinatorServer(g, stub) })
	c, err := Dial([]string{addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, stub
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
