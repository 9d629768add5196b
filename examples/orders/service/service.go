// Package service is the orders example's order service: an order is a row
// in PostgreSQL (through participant/postgres) and an "order placed"
// message staged with participant/natsmsg, so that the message reaches
// JetStream if and only if the order commits.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/examples/orders/orderspb"
	"github.com/verdict-tx/verdict/participant"
	"github.com/verdict-tx/verdict/participant/natsmsg"
	"github.com/verdict-tx/verdict/participant/postgres"
)

// SubjectPrefix starts the subject of every "order placed" message; the
// order id ends it.
const SubjectPrefix = "orders.placed."

// orderIDRE keeps order ids usable as a subject token.
var orderIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Placed is the body of an "order placed" message (JSON).
type Placed struct {
	OrderID  string `json:"order_id"`
	Item     string `json:"item"`
	Quantity int32  `json:"quantity"`
}

// Config is one order service.
type Config struct {
	// Pool is the service's database.
	Pool *pgxpool.Pool
	// Listener is where it serves its API and the Participant service.
	Listener net.Listener
	// Coordinators are the coordinator cluster's endpoints; the
	// coordinator must have a NATS URL for the messages.
	Coordinators []string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service is a running order service.
type Service struct {
	orderspb.UnimplementedOrdersServer
	res  *postgres.Resource
	part *participant.Server
	g    *grpc.Server
	done chan struct{}
}

// Start creates the orders table if missing and serves on cfg.Listener
// until Stop.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if _, err := cfg.Pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS orders (
		id text PRIMARY KEY, item text NOT NULL, quantity int NOT NULL CHECK (quantity > 0))`); err != nil {
		return nil, fmt.Errorf("orders: create table: %w", err)
	}
	res, err := postgres.New(ctx, postgres.Config{Pool: cfg.Pool, Branch: "orders", Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	part, err := participant.NewServer(participant.Config{
		Name: "orders", Address: cfg.Listener.Addr().String(), Resource: res,
		Coordinators: cfg.Coordinators, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{res: res, part: part, done: make(chan struct{})}
	s.g = grpc.NewServer(grpc.UnaryInterceptor(part.UnaryServerInterceptor()))
	part.Register(s.g)
	orderspb.RegisterOrdersServer(s.g, s)
	part.Start()
	go func() {
		defer close(s.done)
		_ = s.g.Serve(cfg.Listener)
	}()
	return s, nil
}

// Stop stops serving and the participant's loops, and waits for them.
func (s *Service) Stop() {
	s.g.Stop()
	s.part.Stop()
	<-s.done
}

// Place inserts the order and stages its message, both under the caller's
// transaction.
func (s *Service) Place(ctx context.Context, req *orderspb.PlaceRequest) (*orderspb.PlaceResponse, error) {
	if !orderIDRE.MatchString(req.GetOrderId()) {
		return nil, status.Errorf(codes.InvalidArgument, "orders: order id %q: want 1 to 64 of [A-Za-z0-9_-]", req.GetOrderId())
	}
	if req.GetQuantity() <= 0 || req.GetItem() == "" {
		return nil, status.Error(codes.InvalidArgument, "orders: an order needs an item and a positive quantity")
	}
	err := s.res.RunInTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO orders (id, item, quantity) VALUES ($1, $2, $3)",
			req.GetOrderId(), req.GetItem(), req.GetQuantity())
		return err
	})
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation
		return nil, status.Errorf(codes.AlreadyExists, "orders: order %s already placed", req.GetOrderId())
	case errors.Is(err, postgres.ErrNoTransaction):
		return nil, status.Error(codes.FailedPrecondition, "orders: Place must run under a transaction")
	case err != nil:
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	body, err := json.Marshal(Placed{OrderID: req.GetOrderId(), Item: req.GetItem(), Quantity: req.GetQuantity()})
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if err := natsmsg.Stage(ctx, SubjectPrefix+req.GetOrderId(), body, natsmsg.WithHeader("Order-Id", req.GetOrderId())); err != nil {
		// The order is prepared but its message is not staged: the
		// caller aborts (the handler's error does), and the order goes.
		if st, ok := status.FromError(errors.Unwrap(err)); ok {
			return nil, status.Error(st.Code(), err.Error())
		}
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &orderspb.PlaceResponse{}, nil
}
