package participant

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/txmeta"
)

func txFor(id string, coordinators ...string) txmeta.Tx {
	return txmeta.Tx{ID: id, Coordinators: coordinators, Deadline: time.Now().Add(time.Minute)}
}

func TestInterceptorEnlistsOnce(t *testing.T) {
	coord := &stubCoordinator{}
	caddr := startCoordinator(t, coord)
	e := newEnv(t, Config{})
	ctx := testContext(t)
	tx := txFor(newTxID(t), caddr)

	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		wg.Go(func() {
			var hdr metadata.MD
			resp, err := e.work.Check(underTx(ctx, tx), &healthpb.HealthCheckRequest{Service: string(rune('a' + i))}, grpc.Header(&hdr))
			switch {
			case err != nil:
				errs <- err
			case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
				errs <- status.Error(codes.Internal, "handler saw no transaction")
			case len(hdr.Get(txmeta.KeyParticipant)) != 1 || hdr.Get(txmeta.KeyParticipant)[0] != "inventory=10.0.0.1:9000":
				errs <- status.Errorf(codes.Internal, "participant header %v", hdr)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := coord.enlists.Load(); n != 1 {
		t.Errorf("enlisted %d times, want 1", n)
	}
	coord.mu.Lock()
	req := coord.enlisted[0]
	coord.mu.Unlock()
	if len(req.GetTxids()) != 1 || req.GetTxids()[0] != tx.ID || req.GetParticipant().GetName() != "inventory" || req.GetParticipant().GetAddress() != "10.0.0.1:9000" {
		t.Errorf("enlist request = %v", req)
	}

	// After Abort the transaction is fenced: no more work, no re-enlisting.
	if _, err := e.part.Abort(ctx, decision(tx.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.work.Check(underTx(ctx, tx), &healthpb.HealthCheckRequest{Service: "z"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("work after abort: %v, want FailedPrecondition", err)
	}
}

func TestInterceptorEnlistFails(t *testing.T) {
	refusing := &stubCoordinator{enlistErr: status.Error(codes.FailedPrecondition, "transaction unknown")}
	raddr := startCoordinator(t, refusing)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := lis.Addr().String()
	lis.Close()

	e := newEnv(t, Config{})
	ctx := testContext(t)
	for _, tt := range []struct {
		coord string
		want  codes.Code
	}{{raddr, codes.FailedPrecondition}, {down, codes.Unavailable}} {
		id := newTxID(t)
		_, err := e.work.Check(underTx(ctx, txFor(id, tt.coord)), &healthpb.HealthCheckRequest{Service: "k"})
		if status.Code(err) != tt.want {
			t.Errorf("coordinator %s: %v, want %v", tt.coord, err, tt.want)
		}
		// The work ran beside the Enlist; it is discarded and the
		// transaction fenced here.
		if s := e.res.State(id); s != TxNone && s != TxAborted {
			t.Errorf("work kept although enlisting failed: state %v", s)
		}
		if _, err := e.work.Check(underTx(ctx, txFor(id, raddr)), &healthpb.HealthCheckRequest{Service: "k"}); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("a later call in the failed transaction: %v, want FailedPrecondition", err)
		}
	}
}

func TestInterceptorRefuses(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := testContext(t)
	past := txFor(newTxID(t), "127.0.0.1:1")
	past.Deadline = time.Now().Add(-time.Second)

	for name, tt := range map[string]struct {
		md   metadata.MD
		want codes.Code
	}{
		"malformed txid":  {metadata.Pairs(txmeta.KeyTxID, "nope", txmeta.KeyCoordinators, "127.0.0.1:1"), codes.InvalidArgument},
		"no coordinators": {metadata.Pairs(txmeta.KeyTxID, newTxID(t)), codes.InvalidArgument},
		"bad deadline":    {metadata.Pairs(txmeta.KeyTxID, newTxID(t), txmeta.KeyCoordinators, "c:1", txmeta.KeyDeadline, "x"), codes.InvalidArgument},
		"past deadline":   {func() metadata.MD { md := metadata.MD{}; past.Append(md); return md }(), codes.FailedPrecondition},
	} {
		_, err := e.work.Check(metadata.NewOutgoingContext(ctx, tt.md), &healthpb.HealthCheckRequest{})
		if status.Code(err) != tt.want {
			t.Errorf("%s: %v, want %v", name, err, tt.want)
		}
	}
}

func TestInterceptorPassThrough(t *testing.T) {
	e := newEnv(t, Config{})
	var hdr metadata.MD
	resp, err := e.work.Check(testContext(t), &healthpb.HealthCheckRequest{}, grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_UNKNOWN || len(hdr.Get(txmeta.KeyParticipant)) != 0 {
		t.Errorf("a call without a transaction was touched: %v %v", resp, hdr)
	}
}

func TestStreamInterceptor(t *testing.T) {
	coord := &stubCoordinator{}
	caddr := startCoordinator(t, coord)
	e := newEnv(t, Config{})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	tx := txFor(newTxID(t), caddr)
	s, err := e.work.Watch(underTx(ctx, tx), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// workService does not implement Watch: the call reaches the handler
	// (Unimplemented) only after enlisting.
	if _, err := s.Recv(); status.Code(err) != codes.Unimplemented {
		t.Fatalf("Recv: %v, want Unimplemented", err)
	}
	if hdr, _ := s.Header(); len(hdr.Get(txmeta.KeyParticipant)) != 1 {
		t.Errorf("header = %v", hdr)
	}
	if n := coord.enlists.Load(); n != 1 {
		t.Errorf("enlisted %d times, want 1", n)
	}
}
