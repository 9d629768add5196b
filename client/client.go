package client

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/verdict-tx/verdict/internal/coordconn"
	"github.com/verdict-tx/verdict/internal/tracing"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// abortTimeout bounds the Abort that Run sends after fn failed, which runs
// even when the caller's context is done. Run's error matches ErrAmbiguous
// when the abort is not confirmed within it.
const abortTimeout = 5 * time.Second

// Client begins transactions at a coordinator cluster. It is safe for
// concurrent use; one Client per process is enough.
type Client struct {
	conn    *coordconn.Conn
	coord   verdictv1.CoordinatorClient
	timeout time.Duration
	// localBegin: Begin without a call once term is known (WithLocalBegin).
	localBegin bool
	// tracer traces each transaction (WithTracerProvider); nil: none.
	tracer *tracing.Tracer
	// term is the leader term local Begins stamp with: the newest an answer
	// named; 0 for none yet, or after a transaction begun locally failed
	// (it may be stale) until a Begin answer names one again. seen is the
	// newest term any answer named.
	term, seen atomic.Uint64
	// offset is how far the leader's clock was from this host's at the
	// last Begin answer (ns): local Begins make their ids and deadlines on
	// the leader's time.
	offset atomic.Int64
	// coords are the coordinators' client addresses the last Begin
	// answer named, for the transactions begun locally.
	coords atomic.Pointer[[]string]
}

// Dial returns a Client of the coordinator cluster at endpoints (host:port
// of each node's client address; a host without a port means port 7400).
// Connections are made lazily; a malformed endpoint (a port that is not a
// number from 1 to 65535, spaces) is an error.
func Dial(endpoints []string, opts ...Option) (*Client, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	conn, err := coordconn.Dial(endpoints, append(coordconn.Plaintext(o.dialOpts), tracing.DialOptions(o.tp)...)...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, coord: conn.Coordinator(), timeout: o.timeout, localBegin: o.localBegin, tracer: tracing.New(o.tp)}, nil
}

// Close closes the connections to the coordinators.
func (c *Client) Close() error { return c.conn.Close() }

// Begin starts a transaction. Pass tx.Context(ctx) to the calls that do work
// under it, through a gRPC client connection that uses
// UnaryClientInterceptor, then call Commit or Abort.
//
// Begin follows the leader: while the cluster has none (a leader change),
// it asks again, with backoff, until ctx is done, or, if ctx has no
// deadline, until the transaction's timeout has passed. A request the
// coordinator rejects (an invalid timeout, too many open transactions)
// fails at once.
func (c *Client) Begin(ctx context.Context, opts ...TxOption) (*Tx, error) {
	o := txOptions{timeout: c.timeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	ctx, span := c.startTrace(ctx)
	tx, err := c.begin(ctx, o)
	if err != nil {
		span.end(err)
		return nil, err
	}
	tracing.Annotate(ctx, tx.id)
	tx.span = span
	return tx, nil
}

// begin is Begin with the options read, under the transaction's span.
func (c *Client) begin(ctx context.Context, o txOptions) (*Tx, error) {
	start := time.Now()
	if tx, ok := c.beginLocally(start, o.timeout); ok {
		return tx, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	req := &verdictv1.BeginRequest{TimeoutMs: o.timeout.Milliseconds()}
	var resp *verdictv1.BeginResponse
	_, err := retry(ctx, func() (err error) {
		resp, err = c.coord.Begin(ctx, req)
		return err
	})
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
	c.coords.Store(&coords)
	if resp.GetDeadlineUnixMs() != 0 {
		// The leader set the deadline at its now plus the timeout.
		c.offset.Store(int64(deadline.Add(-o.timeout).Sub(time.Now())))
	}
	c.learnTerm(resp.GetTerm(), true)
	return newTx(c, resp.GetTxid(), coords, deadline), nil
}

// beginLocally begins a transaction without a call (WithLocalBegin), once
// the client knows the leader's term: the id made here, the deadline
// timeout from start, the transaction stamped with the term.
func (c *Client) beginLocally(start time.Time, timeout time.Duration) (*Tx, bool) {
	term, coords := c.term.Load(), c.coords.Load()
	if !c.localBegin || term == 0 || coords == nil {
		return nil, false
	}
	now := start.Add(time.Duration(c.offset.Load())) // the leader's time
	id, err := txid.NewAt(now)
	if err != nil {
		return nil, false // Begin asks the coordinator, which says why
	}
	tx := newTx(c, id, *coords, now.Add(timeout))
	tx.term = term
	return tx, true
}

// learnTerm learns term from an answer (a Begin's, if begin). A term newer
// than any seen is taken; a Begin answer's is taken even if seen before,
// which a failed local transaction made the client forget.
func (c *Client) learnTerm(term uint64, begin bool) {
	for {
		seen := c.seen.Load()
		if term <= seen {
			break
		}
		if c.seen.CompareAndSwap(seen, term) {
			c.term.Store(term)
			return
		}
	}
	if begin && term == c.seen.Load() {
		c.term.Store(term)
	}
}

// forgetTerm forgets term, which a transaction begun locally was stamped
// with, after that transaction failed: the leader may have changed, and
// the next Begin asks.
func (c *Client) forgetTerm(term uint64) { c.term.CompareAndSwap(term, 0) }

// Run begins a transaction, calls fn with a context that carries it, and
// commits it when fn returns nil: Commit's result is returned as is. When fn
// returns an error, the transaction is aborted, and Run's error matches
// ErrAborted (an *AbortedError) once the coordinator confirmed the abort,
// or ErrAmbiguous (an *AmbiguousError) when it could not: fn's error stays
// reachable through errors.Is and errors.As. When fn panics, the
// transaction is aborted and the panic goes on. Check Run's error with
// errors.Is against ErrAborted and ErrAmbiguous.
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
		// fn failed or panicked (then err is nil and the panic goes on).
		// The abort runs even when the caller's context is done.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		aerr := tx.Abort(actx, abortReason(err))
		if err != nil {
			err = tx.abortedAfter(err, aerr)
		}
	}()
	if err = fn(tx.Context(ctx)); err != nil {
		return err
	}
	committing = true
	return tx.Commit(ctx)
}

// abortedAfter is Run's error once fn failed with fnErr and Abort returned
// abortErr.
func (tx *Tx) abortedAfter(fnErr, abortErr error) error {
	if abortErr == nil {
		return &AbortedError{TxID: tx.id, Reason: fnErr.Error(), Err: fnErr}
	}
	return tx.ambiguous(fmt.Errorf("%w; its abort could not be confirmed: %w", fnErr, abortErr))
}

func abortReason(err error) string {
	if err == nil {
		return "initiator panicked"
	}
	return err.Error()
}
