package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/participant"
	"github.com/verdict-tx/verdict/participant/postgres"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

// pgGIDPrefix is the gid prefix of the pg scenario's participants, apart
// from any real service's on the same server.
const pgGIDPrefix = "vbench"

// RunPG is the PostgreSQL scenario through Verdict: two participant
// services in this process (real gRPC on 127.0.0.1), each a
// participant/postgres Resource over its own database, and per transaction
// Begin → one call to each (the handler updates the transaction's row
// with RunInTx, which prepares at once) → Commit. It is the floor's work
// (RunPGFloor) plus the coordinator. After the run it checks atomicity:
// every row must have moved by the same amount in both databases.
// cfg.Participants is ignored.
func RunPG(ctx context.Context, cfg Config, adminDSN string) (*Result, error) {
	if err := cfg.preparePG(); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pools, err := openPG(ctx, adminDSN, cfg)
	if err != nil {
		return nil, err
	}
	defer closePools(pools)
	before, err := rowCounts(ctx, pools)
	if err != nil {
		return nil, err
	}
	parts, err := startAll(len(pools), func(i int) (*pgParticipant, error) {
		return startPGParticipant(ctx, fmt.Sprintf("bench-pg%d", i+1), pools[i], cfg.Endpoints, !cfg.PrepareCall)
	})
	if err != nil {
		return nil, err
	}
	defer stopAll(parts)
	cl, err := client.Dial(cfg.Endpoints, cfg.clientOptions()...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	opts := cfg.txOptions()
	svcs := services(parts)
	workers, elapsed := runWorkers(ctx, cfg, func(i int) txFunc {
		row := cfg.rowPicker(i)
		return func(ctx context.Context) (time.Time, error) {
			key := strconv.Itoa(row())
			return runTx(ctx, cl, svcs, &key, opts)
		}
	})
	res := &Result{Concurrency: cfg.Concurrency, Participants: len(parts)}
	res.collect(workers, elapsed)

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), phase2Wait)
	defer cancel()
	res.Unresolved, err = waitPGResolved(cctx, parts)
	if err != nil {
		return res, err
	}
	after, err := rowCounts(cctx, pools)
	if err != nil {
		return res, err
	}
	for id := range after[0] {
		if after[0][id]-before[0][id] != after[1][id]-before[1][id] {
			res.Violations++
		}
	}
	return res, ctx.Err()
}

// rowCounts reads every row's counter in each database.
func rowCounts(ctx context.Context, pools []*pgxpool.Pool) ([]map[int]int64, error) {
	out := make([]map[int]int64, len(pools))
	for i, pool := range pools {
		rows, err := pool.Query(ctx, "SELECT id, n FROM "+pgRowsTable)
		if err != nil {
			return nil, fmt.Errorf("bench: read rows: %w", err)
		}
		out[i] = map[int]int64{}
		var id int
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error {
			out[i][id] = n
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("bench: read rows: %w", err)
		}
	}
	return out, nil
}

// pgParticipant is a PostgreSQL participant service in this process.
type pgParticipant struct {
	service
	res *postgres.Resource
}

func startPGParticipant(ctx context.Context, name string, pool *pgxpool.Pool, coordinators []string, earlyVote bool) (*pgParticipant, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	res, err := postgres.New(ctx, postgres.Config{Pool: pool, Branch: name, Prefix: pgGIDPrefix, Logger: quiet})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv, err := participant.NewServer(participant.Config{
		Name: name, Address: l.Addr().String(), Resource: res, Coordinators: coordinators, Logger: quiet,
		EarlyVote: earlyVote, // RunInTx prepares at the end of the call anyway
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	g := grpc.NewServer(grpc.UnaryInterceptor(srv.UnaryServerInterceptor()), grpc.NumStreamWorkers(64))
	srv.Register(g)
	worksvc.RegisterFunc(g, func(ctx context.Context, _, key string) error {
		id, err := strconv.Atoi(key)
		if err != nil {
			return err
		}
		return res.RunInTx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "UPDATE "+pgRowsTable+" SET n = n + 1 WHERE id = $1", id)
			return err
		})
	})
	go g.Serve(l)
	// The recovery loop resolves what an interrupted earlier run left
	// prepared.
	srv.Start()
	conn, err := grpc.NewClient(l.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		g.Stop()
		srv.Stop()
		return nil, err
	}
	return &pgParticipant{service: service{name: name, srv: srv, g: g, conn: conn}, res: res}, nil
}

// waitPGResolved waits (bounded by ctx) until no participant holds a
// prepared transaction, and returns how many still do.
func waitPGResolved(ctx context.Context, parts []*pgParticipant) (int, error) {
	for {
		held := 0
		for _, p := range parts {
			ids, err := p.res.Prepared(ctx)
			if err != nil {
				return 0, err
			}
			held += len(ids)
		}
		if held == 0 || ctx.Err() != nil {
			return held, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}
