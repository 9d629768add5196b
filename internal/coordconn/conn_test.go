package coordconn

import (
	"context"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// stubNode is a test stand-in for a coordinator node: it implements only
// Outcome, either answering it (leader) or refusing it with Unavailable and
// a leader hint (follower).
type stubNode struct {
	verdictv1.UnimplementedCoordinatorServer
	addr   string
	leader atomic.Pointer[string] // nil: this node answers
	calls  atomic.Int32
}

func (n *stubNode) Outcome(ctx context.Context, req *verdictv1.OutcomeRequest) (*verdictv1.OutcomeResponse, error) {
	n.calls.Add(1)
	if l := n.leader.Load(); l != nil {
		if *l != "" {
			_ = grpc.SetHeader(ctx, metadata.Pairs(LeaderHeader, *l))
		}
		return nil, status.Error(codes.Unavailable, "not the leader")
	}
	return &verdictv1.OutcomeResponse{Outcome: verdictv1.Outcome_OUTCOME_COMMITTED}, nil
}

func startNode(t *testing.T) *stubNode {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &stubNode{addr: lis.Addr().String()}
	g := grpc.NewServer()
	verdictv1.RegisterCoordinatorServer(g, n)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return n
}

func (n *stubNode) follow(leader string) { n.leader.Store(&leader) }

func outcome(t *testing.T, c *Conn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Coordinator().Outcome(ctx, &verdictv1.OutcomeRequest{Txid: "x"})
	return err
}

func TestFollowsLeaderHint(t *testing.T) {
	a, b := startNode(t), startNode(t)
	a.follow(b.addr)
	c, err := Dial([]string{a.addr, b.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := outcome(t, c); err != nil {
		t.Fatalf("outcome: %v", err)
	}
	if err := outcome(t, c); err != nil {
		t.Fatalf("outcome: %v", err)
	}
	if got := a.calls.Load(); got != 1 {
		t.Errorf("follower called %d times, want 1 (the leader is preferred after the hint)", got)
	}
	if got := b.calls.Load(); got != 2 {
		t.Errorf("leader called %d times, want 2", got)
	}
}

func TestLearnsUnknownLeader(t *testing.T) {
	a, b := startNode(t), startNode(t)
	a.follow(b.addr)
	c, err := Dial([]string{a.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := outcome(t, c); err != nil {
		t.Fatalf("outcome: %v", err)
	}
	if got, want := c.Endpoints(), []string{a.addr, b.addr}; !slices.Equal(got, want) {
		t.Errorf("endpoints = %v, want %v", got, want)
	}
}

func TestRetriesBounded(t *testing.T) {
	a, b := startNode(t), startNode(t)
	a.follow("")
	b.follow("")
	c, err := Dial([]string{a.addr, b.addr, a.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = outcome(t, c)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	if a.calls.Load() != attemptsPerEndpoint || b.calls.Load() != attemptsPerEndpoint {
		t.Errorf("calls a=%d b=%d, want %d each", a.calls.Load(), b.calls.Load(), attemptsPerEndpoint)
	}
}

func TestDownEndpointSkipped(t *testing.T) {
	b := startNode(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := lis.Addr().String()
	lis.Close()
	c, err := Dial([]string{down, b.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := outcome(t, c); err != nil {
		t.Fatalf("outcome: %v", err)
	}
}

func TestContextRespected(t *testing.T) {
	a := startNode(t)
	a.follow("")
	c, err := Dial([]string{a.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Coordinator().Outcome(ctx, &verdictv1.OutcomeRequest{Txid: "x"})
	if status.Code(err) != codes.Canceled {
		t.Fatalf("err = %v, want Canceled", err)
	}
}

func TestDialValidates(t *testing.T) {
	if _, err := Dial(nil); err == nil {
		t.Error("Dial(nil) succeeded")
	}
	if _, err := Dial([]string{""}); err == nil {
		t.Error("Dial with an empty endpoint succeeded")
	}
	c, err := Dial([]string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := outcome(t, c); status.Code(err) != codes.Canceled {
		t.Errorf("call after Close: %v, want Canceled", err)
	}
}
