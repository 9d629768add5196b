package client

import (
	"context"
	"fmt"
	"time"

	"github.com/verdict-tx/verdict/internal/coordconn"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// abortTimeout bounds the Abort that Run sends after fn failed, which runs
// even when the caller's context is done.
const abortTimeout = 5 * time.Second

// Client begins transactions at a coordinator cluster. It is safe for
// concurrent use; one Client per process is enough.
type Client struct {
	conn    *coordconn.Conn
	coord   verdictv1.CoordinatorClient
	timeout time.Duration
}

// Dial returns a Client of the coordinator cluster at endpoints (host:port
// of each node's client address). Connections are made lazily.
func Dial(endpoints []string, opts ...Option) (*Client, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	conn, err := coordconn.Dial(endpoints, o.dialOpts...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, coord: conn.Coordinator(), timeout: o.timeout}, nil
}

// Close closes the connections to the coordinators.
func (c *Client) Close() error { return c.conn.Close() }

// Begin starts a transaction. Pass tx.Context(ctx) to the calls that do work
// under it, through a gRPC client connection that uses
// UnaryClientInterceptor, then call Commit or Abort.
func (c *Client) Begin(ctx context.Context, opts ...TxOption) (*Tx, error) {
	o := txOptions{timeout: c.timeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	resp, err := c.coord.Begin(ctx, &verdictv1.BeginRequest{TimeoutMs: o.timeout.Milliseconds()})
	if err != nil {
		return nil, fmt.Errorf("verdict: begin: %w", err)
	}
	if err := txid.Validate(resp.GetTxid()); err != nil {
		return nil, fmt.Errorf("verdict: begin: coordinator answered: %w", err)
	}
	coords := resp.GetCoordinators()
	if len(coords) == 0 {
		coords = c.conn.Endpoints()
	}
	deadline := time.UnixMilli(resp.GetDeadlineUnixMs())
	if resp.GetDeadlineUnixMs() == 0 {
		deadline = start.Add(o.timeout)
	}
	return newTx(c, resp.GetTxid(), coords, deadline), nil
}

// Run begins a transaction, calls fn with a context that carries it, and
// commits it when fn returns nil. When fn returns an error (or panics) the
// transaction is aborted and fn's error is returned (or the panic goes on).
// Commit's error is returned as is: check it with errors.Is against
// ErrAborted and ErrAmbiguous.
func (c *Client) Run(ctx context.Context, fn func(ctx context.Context) error, opts ...TxOption) (err error) {
	tx, err := c.Begin(ctx, opts...)
	if err != nil {
		return err
	}
	committing := false
	defer func() {
		if committing {
			return
		}
		// fn failed or panicked. Abort is an optimisation (the coordinator
		// aborts at the deadline anyway), so its error is not reported.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		_ = tx.Abort(actx, abortReason(err))
	}()
	if err := fn(tx.Context(ctx)); err != nil {
		return err
	}
	committing = true
	return tx.Commit(ctx)
}

func abortReason(err error) string {
	if err == nil {
		return "initiator panicked"
	}
	return err.Error()
}
