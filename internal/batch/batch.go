// Package batch coalesces concurrent calls into batched calls. Nothing waits
// to fill a batch: a call is sent as soon as fewer than MaxInflight batched
// calls are in flight, carrying whatever has queued, so an idle caller pays
// no latency and a busy one pays one round trip per batch instead of one per
// item. Verdict uses it for Prepare (coordinator → participant) and Enlist
// (participant → coordinator).
package batch

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Batcher sends items of type In in batches and hands each caller its Out.
type Batcher[In, Out any] struct {
	// Send performs one batched call; it returns one Out per input, in order,
	// or an error that every caller of the batch receives.
	Send func(ctx context.Context, ins []In) ([]Out, error)
	// MaxBatch bounds the items in one call.
	MaxBatch int
	// MaxInflight bounds the calls in flight.
	MaxInflight int
	// Timeout bounds a call whose callers have no deadline.
	Timeout time.Duration
	// Ctx is the parent of every call's context; cancel it to stop.
	Ctx context.Context
	// Trace, if set, starts a span around each batched call, given the
	// call's context and its callers' (internal/tracing's Tracer.Batch),
	// and returns the context to send with and the span's end.
	Trace func(ctx context.Context, callers []context.Context) (context.Context, func(error))
	// Go, if set, starts the goroutine that sends batches, on behalf of an
	// owner that waits for its goroutines; it reports false if it started
	// none (the owner is stopping), and the caller sends them itself.
	// Nil: a goroutine of its own.
	Go func(f func()) bool

	mu       sync.Mutex
	queue    []*call[In, Out]
	inflight int
}

type call[In, Out any] struct {
	in       In
	ctx      context.Context // the caller's, for Trace; nil without
	deadline time.Time
	done     chan result[Out] // buffered 1
}

type result[Out any] struct {
	out Out
	err error
}

// Do queues in and waits for its result or for ctx. The batched call runs
// with the latest deadline among its callers, so a caller that gives up
// early does not cut short the others.
func (b *Batcher[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(b.Timeout)
	}
	c := &call[In, Out]{in: in, deadline: deadline, done: make(chan result[Out], 1)}
	if b.Trace != nil {
		c.ctx = ctx
	}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	start := b.inflight < b.MaxInflight
	if start {
		b.inflight++
	}
	b.mu.Unlock()
	if start {
		if b.Go == nil {
			go b.drain()
		} else if !b.Go(b.drain) {
			b.drain()
		}
	}
	select {
	case r := <-c.done:
		return r.out, r.err
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	}
}

// drain sends batches until the queue is empty.
func (b *Batcher[In, Out]) drain() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), b.MaxBatch)
		if n == 0 {
			b.inflight--
			b.mu.Unlock()
			return
		}
		calls := b.queue[:n:n]
		b.queue = b.queue[n:]
		b.mu.Unlock()
		b.send(calls)
	}
}

func (b *Batcher[In, Out]) send(calls []*call[In, Out]) {
	ins := make([]In, len(calls))
	latest := calls[0].deadline
	for i, c := range calls {
		ins[i] = c.in
		if c.deadline.After(latest) {
			latest = c.deadline
		}
	}
	ctx, cancel := context.WithDeadline(b.Ctx, latest)
	defer cancel()
	end := func(error) {}
	if b.Trace != nil {
		callers := make([]context.Context, len(calls))
		for i, c := range calls {
			callers[i] = c.ctx
		}
		ctx, end = b.Trace(ctx, callers)
	}
	outs, err := b.Send(ctx, ins)
	if err == nil && len(outs) != len(calls) {
		err = fmt.Errorf("batch: %d results for %d items", len(outs), len(calls))
	}
	end(err)
	for i, c := range calls {
		if err != nil {
			c.done <- result[Out]{err: err}
		} else {
			c.done <- result[Out]{out: outs[i]}
		}
	}
}
