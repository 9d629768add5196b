package participant

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/internal/testwait"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// This file runs the real thing: a one-node coordinator cluster and
// participants over real gRPC on 127.0.0.1, driven by the client SDK.

func testLogger() *slog.Logger {
	if os.Getenv("VERDICT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// liveCoordinator is a one-node coordinator cluster.
type liveCoordinator struct {
	srv  *coordinator.Server
	addr string
}

func startLiveCoordinator(t *testing.T) *liveCoordinator {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	srv, err := coordinator.Start(coordinator.Config{
		ID:            1,
		Peers:         map[uint64]string{1: addr},
		DataDir:       filepath.Join(t.TempDir(), "coord"),
		Listener:      l,
		TickInterval:  10 * time.Millisecond,
		ElectionTicks: 10,
		Logger:        testLogger().With("test", t.Name()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	testwait.For(t, 10*time.Second, "a coordinator leader", func() bool {
		_, ok := srv.Node().LeaderTerm()
		return ok
	})
	return &liveCoordinator{srv: srv, addr: addr}
}

// initiator returns a client of c.
func (c *liveCoordinator) initiator(t *testing.T) *client.Client {
	t.Helper()
	cl, err := client.Dial([]string{c.addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// liveParticipant is a participant Server over a resource, serving the
// Participant service and workService on its own address, which it
// enlists with.
type liveParticipant struct {
	srv *Server
	g   *grpc.Server
	// work is the initiator's connection to workService, through the
	// client SDK's interceptor.
	work healthpb.HealthClient
	part verdictv1.ParticipantClient
	// commitsRefused counts the coordinator's Commit calls refused while
	// blockCommit is set.
	blockCommit    atomic.Bool
	commitsRefused atomic.Int32
	// prepares counts the coordinator's Prepare calls.
	prepares atomic.Int32
}

// startLive starts a participant named name over res with cfg (Name,
// Address, Resource and Logger are filled in). Its Server is not Started.
func startLive(t *testing.T, name string, res *MemResource, cfg Config) *liveParticipant {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name, cfg.Address, cfg.Resource, cfg.Logger = name, l.Addr().String(), res, testLogger().With("test", t.Name())
	p := &liveParticipant{}
	if p.srv, err = NewServer(cfg); err != nil {
		t.Fatal(err)
	}
	p.g = grpc.NewServer(grpc.ChainUnaryInterceptor(p.faults, p.srv.UnaryServerInterceptor()))
	p.srv.Register(p.g)
	healthpb.RegisterHealthServer(p.g, &workService{res: res})
	go func() { _ = p.g.Serve(l) }()
	cc, err := grpc.NewClient(l.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	p.work, p.part = healthpb.NewHealthClient(cc), verdictv1.NewParticipantClient(cc)
	t.Cleanup(func() {
		cc.Close()
		p.stop()
	})
	return p
}

// faults counts the coordinator's Prepare calls, and refuses its Commit
// calls while blockCommit is set: phase 2 cannot reach this participant,
// as after a crash or a partition.
func (p *liveParticipant) faults(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod == verdictv1.Participant_Prepare_FullMethodName {
		p.prepares.Add(1)
	}
	if info.FullMethod == verdictv1.Participant_Commit_FullMethodName && p.blockCommit.Load() {
		p.commitsRefused.Add(1)
		return nil, status.Error(codes.Unavailable, "test: commit blocked")
	}
	return handler(ctx, req)
}

// stop stops the participant as a crash would, its resource aside.
func (p *liveParticipant) stop() {
	p.g.Stop()
	p.srv.Stop()
}

// stage does work at p under tx: a write of key.
func (p *liveParticipant) stage(ctx context.Context, tx *client.Tx, key string) error {
	_, err := p.work.Check(tx.Context(ctx), &healthpb.HealthCheckRequest{Service: key})
	return err
}
