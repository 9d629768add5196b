// Package account is the bank example's account service: accounts and
// their balances in a PostgreSQL database of its own, changed only under a
// Verdict transaction through participant/postgres, and Transfer, the
// initiator's side of moving money between two such services.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/examples/bank/bankpb"
	"github.com/verdict-tx/verdict/participant"
	"github.com/verdict-tx/verdict/participant/postgres"
)

// Config is one account service.
type Config struct {
	// Name is the participant's name, unique among the bank's services.
	Name string
	// Pool is the service's own database.
	Pool *pgxpool.Pool
	// Listener is where the service serves its API and the Participant
	// service; its address is what the coordinator dials unless Address
	// is set.
	Listener net.Listener
	// Address, if set, is the address (host:port) the coordinator dials to
	// reach the service, sent with each enlistment: the advertised address
	// of a Listener bound to a wildcard address (0.0.0.0:9101 in a
	// container) or behind a NAT. Empty: the Listener's address.
	Address string
	// Coordinators are the coordinator cluster's endpoints.
	Coordinators []string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service is a running account service.
type Service struct {
	bankpb.UnimplementedAccountsServer
	res  *postgres.Resource
	part *participant.Server
	g    *grpc.Server
	done chan error
}

// Start creates the accounts table if missing and serves the service on
// cfg.Listener until Stop. Its participant's recovery loop resolves what
// an earlier run of the service left prepared.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if _, err := cfg.Pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS accounts (
		id text PRIMARY KEY,
		balance bigint NOT NULL CHECK (balance >= 0))`); err != nil {
		return nil, fmt.Errorf("account: create table: %w", err)
	}
	res, err := postgres.New(ctx, postgres.Config{Pool: cfg.Pool, Branch: cfg.Name, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	addr := cfg.Address
	if addr == "" {
		addr = cfg.Listener.Addr().String()
	}
	part, err := participant.NewServer(participant.Config{
		Name: cfg.Name, Address: addr, Resource: res,
		Coordinators: cfg.Coordinators, Logger: cfg.Logger,
		// An Add is the transfer's one call here, prepared by RunInTx
		// before it answers: its YES rides with the enlistment.
		EarlyVote: true,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{res: res, part: part, done: make(chan error, 1)}
	s.g = grpc.NewServer(grpc.UnaryInterceptor(part.UnaryServerInterceptor()))
	part.Register(s.g)
	bankpb.RegisterAccountsServer(s.g, s)
	part.Start()
	go func() { s.done <- s.g.Serve(cfg.Listener) }()
	return s, nil
}

// Stop stops serving and the participant's loops, and waits for them.
func (s *Service) Stop() {
	s.g.Stop()
	s.part.Stop()
	<-s.done
}

// Add adds req.Delta to the account in the caller's transaction; the
// change is prepared before Add answers and commits with the transaction.
func (s *Service) Add(ctx context.Context, req *bankpb.AddRequest) (*bankpb.AddResponse, error) {
	if req.GetAccount() == "" {
		return nil, status.Error(codes.InvalidArgument, "account: no account named")
	}
	var balance int64
	err := s.res.RunInTx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "UPDATE accounts SET balance = balance + $2 WHERE id = $1 RETURNING balance",
			req.GetAccount(), req.GetDelta()).Scan(&balance)
	})
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return &bankpb.AddResponse{Balance: balance}, nil
	case errors.Is(err, pgx.ErrNoRows):
		return nil, status.Errorf(codes.NotFound, "account: no account %q", req.GetAccount())
	case errors.As(err, &pgErr) && pgErr.Code == "23514": // check_violation
		return nil, status.Errorf(codes.FailedPrecondition, "account: %q: insufficient funds", req.GetAccount())
	case errors.Is(err, postgres.ErrNoTransaction):
		return nil, status.Error(codes.FailedPrecondition, "account: Add must run under a transaction")
	case errors.Is(err, postgres.ErrAborted):
		return nil, status.Error(codes.Aborted, err.Error())
	}
	return nil, status.Error(codes.Unavailable, err.Error())
}

// Seed creates accounts with the given balances, leaving existing ones
// unchanged.
func Seed(ctx context.Context, pool *pgxpool.Pool, balances map[string]int64) error {
	for id, b := range balances {
		if _, err := pool.Exec(ctx, "INSERT INTO accounts (id, balance) VALUES ($1, $2) ON CONFLICT DO NOTHING", id, b); err != nil {
			return fmt.Errorf("account: seed %s: %w", id, err)
		}
	}
	return nil
}

// Total is the sum of all balances in pool's database.
func Total(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var total int64
	err := pool.QueryRow(ctx, "SELECT COALESCE(sum(balance), 0)::bigint FROM accounts").Scan(&total)
	return total, err
}
