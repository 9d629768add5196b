package bench

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/participant"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

// RunMemFloor is the floor of the in-memory scenario: the same work calls
// to the same in-process participant services, with no coordinator at all
// (no Begin, Enlist, Prepare or Commit). Each call does, alone, the work a
// participant does for one transaction (worksvc.RegisterFloor). A
// transaction is one call to each participant, one after the other, as in
// the in-memory scenario. cfg.Endpoints is ignored.
func RunMemFloor(ctx context.Context, cfg Config) (*Result, error) {
	cfg.Endpoints = []string{"-"} // no coordinator
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	calls := newCallCounter()
	svcs, err := startAll(cfg.Participants, func(i int) (*service, error) {
		return startFloorService("p"+strconv.Itoa(i+1), calls)
	})
	if err != nil {
		return nil, err
	}
	defer stopAll(svcs)
	var txs atomic.Uint64 // begun, warm-up included, as the calls are counted
	workers, elapsed := runWorkers(ctx, cfg, func(w int) txFunc {
		n := 0
		return func(ctx context.Context) (time.Time, error) {
			n++
			txs.Add(1)
			key := "floor-" + strconv.Itoa(w) + "-" + strconv.Itoa(n)
			for _, s := range svcs {
				if err := worksvc.Stage(ctx, s.conn, key); err != nil {
					return time.Now(), err
				}
			}
			return time.Now(), nil
		}
	})
	res := &Result{Concurrency: cfg.Concurrency, Participants: cfg.Participants}
	res.collect(workers, elapsed)
	res.CallsPerTx = calls.perTx(txs.Load())
	return res, ctx.Err()
}

// startFloorService serves the Work service of the floor on 127.0.0.1,
// counting the calls it gets in calls.
func startFloorService(name string, calls *callCounter) (*service, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	res := participant.NewMemResource()
	res.KeepHistory(false)
	g := grpc.NewServer(grpc.UnaryInterceptor(calls.server), grpc.NumStreamWorkers(64))
	worksvc.RegisterFloor(g, res)
	go g.Serve(l)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		g.Stop()
		return nil, err
	}
	return &service{name: name, g: g, conn: conn}, nil
}
