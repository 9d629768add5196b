package postgres

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// This file runs the real thing: a one-node coordinator cluster, and
// services whose handlers write to PostgreSQL through a Resource, over real
// gRPC on 127.0.0.1, driven by the client SDK.

func startCoordinator(t *testing.T) string {
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
	return addr
}

func dialInitiator(t *testing.T, coord string) *client.Client {
	t.Helper()
	cl, err := client.Dial([]string{coord})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// pgService is a business service: Check writes the key req.Service to
// its table through the Resource, under the call's transaction. A key
// starting with "bad:" runs failing SQL and returns the error; one starting
// with "swallow:" runs failing SQL and ignores the error, as a careless
// handler would; one starting with "read:" only reads.
type pgService struct {
	healthpb.UnimplementedHealthServer
	res   *Resource
	table string
}

func (s *pgService) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	key := req.GetService()
	tx, _ := participant.TxFromContext(ctx)
	err := s.res.RunInTx(ctx, func(ptx pgx.Tx) error {
		if strings.HasPrefix(key, "read:") {
			var n int
			return ptx.QueryRow(ctx, "SELECT count(*) FROM "+s.table).Scan(&n)
		}
		if strings.HasPrefix(key, "bad:") || strings.HasPrefix(key, "swallow:") {
			_, err := ptx.Exec(ctx, "INSERT INTO "+s.table+"_missing (k) VALUES ($1)", key)
			if strings.HasPrefix(key, "swallow:") {
				return nil
			}
			return err
		}
		_, err := ptx.Exec(ctx, "INSERT INTO "+s.table+" (k, v) VALUES ($1, $2)", key, tx.ID)
		return err
	})
	if err != nil && strings.HasPrefix(key, "swallow:") {
		err = nil // careless: the work failed, the caller is told it went well
	}
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// livePG is a participant process: a Resource, a participant.Server and
// pgService on one gRPC server.
type livePG struct {
	res  *Resource
	srv  *participant.Server
	g    *grpc.Server
	addr string
	work healthpb.HealthClient
	cc   *grpc.ClientConn
	// blockCommit refuses the coordinator's Commit calls: phase 2 cannot
	// reach this participant, as after a crash.
	blockCommit atomic.Bool
	// prepares counts the coordinator's Prepare calls.
	prepares atomic.Int32
}

// startPG starts a participant named branch over the fixture's database
// on addr ("127.0.0.1:0" for any port), with coord for recovery every
// 50ms, and Starts its loops.
func startPG(t *testing.T, f *fixture, branch, addr, coord string) *livePG {
	return startPGEvery(t, f, branch, addr, coord, 50*time.Millisecond, false)
}

// startPGEvery is startPG with the given recovery interval (with none, the
// participant's loops are not started at all), voting with its enlistment
// if early (participant.Config.EarlyVote).
func startPGEvery(t *testing.T, f *fixture, branch, addr, coord string, recovery time.Duration, early bool) *livePG {
	t.Helper()
	ctx := testContext(t)
	res, err := New(ctx, f.config(branch))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &livePG{res: res, addr: l.Addr().String()}
	p.srv, err = participant.NewServer(participant.Config{
		Name:             branch,
		Address:          p.addr,
		Resource:         res,
		Coordinators:     []string{coord},
		RecoveryInterval: max(recovery, time.Millisecond),
		EarlyVote:        early,
		Logger:           testLogger().With("test", t.Name()),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.g = grpc.NewServer(grpc.ChainUnaryInterceptor(p.faults, p.srv.UnaryServerInterceptor()))
	p.srv.Register(p.g)
	healthpb.RegisterHealthServer(p.g, &pgService{res: res, table: f.table})
	go func() { _ = p.g.Serve(l) }()
	p.cc, err = grpc.NewClient(p.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	p.work = healthpb.NewHealthClient(p.cc)
	if recovery > 0 {
		p.srv.Start()
	}
	t.Cleanup(p.stop)
	return p
}

func (p *livePG) faults(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod == verdictv1.Participant_Prepare_FullMethodName {
		p.prepares.Add(1)
	}
	if info.FullMethod == verdictv1.Participant_Commit_FullMethodName && p.blockCommit.Load() {
		return nil, status.Error(codes.Unavailable, "test: commit blocked")
	}
	return handler(ctx, req)
}

// stop ends the process as a crash would: nothing is committed or rolled
// back, what is prepared stays prepared in PostgreSQL.
func (p *livePG) stop() {
	p.cc.Close()
	p.g.Stop()
	p.srv.Stop()
}

func (p *livePG) write(ctx context.Context, tx *client.Tx, key string) error {
	_, err := p.work.Check(tx.Context(ctx), &healthpb.HealthCheckRequest{Service: key})
	return err
}

func TestLiveCommit(t *testing.T) {
	f := newFixture(t)
	coord := startCoordinator(t)
	orders := startPG(t, f, "orders-"+f.branch, "127.0.0.1:0", coord)
	stock := startPG(t, f, "stock-"+f.branch, "127.0.0.1:0", coord)
	cl := dialInitiator(t, coord)
	ctx := testContext(t)

	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.write(ctx, tx, "order-1"); err != nil {
		t.Fatal(err)
	}
	if err := stock.write(ctx, tx, "stock-1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Phase 2 runs after the answer.
	testwait.For(t, 10*time.Second, "phase 2 at both participants", func() bool {
		return orders.res.Stats().Committed == 1 && stock.res.Stats().Committed == 1
	})
	for _, k := range []string{"order-1", "stock-1"} {
		if v, ok := f.value(t, k); !ok || v != tx.ID() {
			t.Fatalf("%s = %q, %v after commit", k, v, ok)
		}
	}
	if gids := f.preparedGIDs(t, ctx); len(gids) != 0 {
		t.Fatalf("still prepared: %v", gids)
	}
}

// TestLiveEarlyVote: participants that vote with their enlistment commit
// with no Prepare from the coordinator; a second write is refused; an SQL
// error fails the call (Aborted) and rolls its work back.
func TestLiveEarlyVote(t *testing.T) {
	f := newFixture(t)
	coord := startCoordinator(t)
	orders := startPGEvery(t, f, "orders-"+f.branch, "127.0.0.1:0", coord, 50*time.Millisecond, true)
	stock := startPGEvery(t, f, "stock-"+f.branch, "127.0.0.1:0", coord, 50*time.Millisecond, true)
	cl := dialInitiator(t, coord)
	ctx := testContext(t)

	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.write(ctx, tx, "order-1"); err != nil {
		t.Fatal(err)
	}
	if err := stock.write(ctx, tx, "stock-1"); err != nil {
		t.Fatal(err)
	}
	if err := orders.write(ctx, tx, "order-2"); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a second write after the early YES: %v, want FailedPrecondition", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "phase 2 at both participants", func() bool {
		return orders.res.Stats().Committed == 1 && stock.res.Stats().Committed == 1
	})
	for _, k := range []string{"order-1", "stock-1"} {
		if v, ok := f.value(t, k); !ok || v != tx.ID() {
			t.Fatalf("%s = %q, %v after commit", k, v, ok)
		}
	}
	if n := orders.prepares.Load() + stock.prepares.Load(); n != 0 {
		t.Fatalf("%d Prepare calls to participants that voted with their enlistment", n)
	}

	tx2, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stock.write(ctx, tx2, "swallow:stock-2"); status.Code(err) != codes.Aborted {
		t.Fatalf("a write whose SQL failed: %v, want Aborted", err)
	}
	if err := tx2.Abort(ctx, "test: a write failed"); err != nil {
		t.Fatal(err)
	}
	if gids := f.preparedGIDs(t, ctx); len(gids) != 0 {
		t.Fatalf("still prepared: %v", gids)
	}
	if _, ok := f.value(t, "stock-2"); ok {
		t.Fatal("a failed write committed")
	}

	// A read-only call votes READ_ONLY at its end, and the adapter
	// forgets it; the coordinator's Prepare gets READ_ONLY all the same,
	// and the transaction commits.
	tx3, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.write(ctx, tx3, "order-3"); err != nil {
		t.Fatal(err)
	}
	if err := stock.write(ctx, tx3, "read:stock"); err != nil {
		t.Fatal(err)
	}
	if err := tx3.Commit(ctx); err != nil {
		t.Fatalf("Commit with a read-only participant: %v", err)
	}
	if n := stock.prepares.Load(); n != 1 {
		t.Fatalf("%d Prepare calls to the read-only participant, want 1", n)
	}
	testwait.For(t, 10*time.Second, "order-3 committed", func() bool {
		v, ok := f.value(t, "order-3")
		return ok && v == tx3.ID()
	})
}

func TestLiveVoteNo(t *testing.T) {
	f := newFixture(t)
	coord := startCoordinator(t)
	orders := startPG(t, f, "orders-"+f.branch, "127.0.0.1:0", coord)
	stock := startPG(t, f, "stock-"+f.branch, "127.0.0.1:0", coord)
	cl := dialInitiator(t, coord)
	ctx := testContext(t)

	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.write(ctx, tx, "order-1"); err != nil {
		t.Fatal(err)
	}
	// The stock service's SQL fails, and it tells the caller all is well.
	if err := stock.write(ctx, tx, "swallow:stock-1"); err != nil {
		t.Fatal(err)
	}
	err = tx.Commit(ctx)
	var ae *client.AbortedError
	if !errors.As(err, &ae) {
		t.Fatalf("Commit = %v, want aborted by the no vote", err)
	}
	testwait.For(t, 10*time.Second, "the prepared order rolled back", func() bool {
		return len(f.preparedGIDs(t, ctx)) == 0
	})
	if _, ok := f.value(t, "order-1"); ok {
		t.Fatal("aborted order committed")
	}
}

// A participant dies after PREPARE; the coordinator decides meanwhile; the
// restarted participant resolves what it holds prepared through the
// coordinator: committed, or aborted.
func TestLiveRestartRecovers(t *testing.T) {
	for _, commit := range []bool{true, false} {
		name := "abort"
		if commit {
			name = "commit"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			coord := startCoordinator(t)
			branch := "orders-" + f.branch
			// No recovery loop: phase 2 must not reach it before it
			// dies.
			orders := startPGEvery(t, f, branch, "127.0.0.1:0", coord, 0, false)
			stock := startPG(t, f, "stock-"+f.branch, "127.0.0.1:0", coord)
			cl := dialInitiator(t, coord)
			ctx := testContext(t)

			tx, err := cl.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := orders.write(ctx, tx, "order-1"); err != nil {
				t.Fatal(err)
			}
			if err := stock.write(ctx, tx, "stock-1"); err != nil {
				t.Fatal(err)
			}
			if commit {
				orders.blockCommit.Store(true)
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				testwait.For(t, 10*time.Second, "phase 2 at stock", func() bool { return stock.res.Stats().Committed == 1 })
			}
			// The orders process dies with its work prepared.
			orders.stop()
			if gids := f.preparedGIDs(t, ctx); !commit && len(gids) != 2 || commit && len(gids) != 1 {
				t.Fatalf("prepared after the crash: %v", gids)
			}
			if !commit {
				if err := tx.Abort(ctx, "test: abort while orders is down"); err != nil {
					t.Fatal(err)
				}
			}
			// It restarts, on the same address, with no memory of it.
			restarted := startPG(t, f, branch, orders.addr, coord)
			testwait.For(t, 10*time.Second, "recovery of the prepared order", func() bool {
				return len(f.preparedGIDs(t, ctx)) == 0
			})
			_, ok := f.value(t, "order-1")
			if ok != commit {
				t.Fatalf("order-1 present = %v, want %v", ok, commit)
			}
			if _, ok := f.value(t, "stock-1"); ok != commit {
				t.Fatalf("stock-1 present = %v, want %v", ok, commit)
			}
			s := restarted.res.Stats()
			if commit && s.Committed != 1 || !commit && s.Aborted != 1 || s.Heuristic != 0 {
				t.Fatalf("restarted stats %+v", s)
			}
		})
	}
}
