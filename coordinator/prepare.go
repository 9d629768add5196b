package coordinator

import (
	"context"
	"fmt"
	"sync"
	"time"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Prepare batching: the prepares due at one participant at the same moment go
// in one call. Nothing waits to fill a batch: a call starts as soon as fewer
// than maxPrepareCalls are in flight to that participant, carrying whatever
// has queued, so an idle system sends one prepare per call at once.
const (
	maxPrepareBatch = 256
	maxPrepareCalls = 4
)

// prepareCall is one transaction's prepare waiting for its vote.
type prepareCall struct {
	id       string
	deadline time.Time
	done     chan prepareResult // buffered 1
}

type prepareResult struct {
	vote *verdictv1.PrepareVote
	err  error
}

// preparer batches prepares to one participant address.
type preparer struct {
	pool *participantPool
	addr string

	mu       sync.Mutex
	queue    []*prepareCall
	inflight int
}

// prepare asks for one vote and waits for it or for ctx.
func (p *preparer) prepare(ctx context.Context, id string) (*verdictv1.PrepareVote, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(decisionTimeout)
	}
	call := &prepareCall{id: id, deadline: deadline, done: make(chan prepareResult, 1)}
	p.mu.Lock()
	p.queue = append(p.queue, call)
	start := p.inflight < maxPrepareCalls
	if start {
		p.inflight++
	}
	p.mu.Unlock()
	if start {
		go p.send()
	}
	select {
	case r := <-call.done:
		return r.vote, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// send sends queued prepares in batches until the queue is empty.
func (p *preparer) send() {
	for {
		p.mu.Lock()
		n := min(len(p.queue), maxPrepareBatch)
		if n == 0 {
			p.inflight--
			p.mu.Unlock()
			return
		}
		batch := p.queue[:n:n]
		p.queue = p.queue[n:]
		p.mu.Unlock()
		p.call(batch)
	}
}

func (p *preparer) call(batch []*prepareCall) {
	ids := make([]string, len(batch))
	latest := batch[0].deadline
	for i, c := range batch {
		ids[i] = c.id
		if c.deadline.After(latest) {
			latest = c.deadline
		}
	}
	ctx, cancel := context.WithDeadline(p.pool.ctx, latest)
	defer cancel()
	cl, err := p.pool.client(p.addr)
	var resp *verdictv1.PrepareResponse
	if err == nil {
		resp, err = cl.Prepare(ctx, &verdictv1.PrepareRequest{Txids: ids})
	}
	if err == nil && len(resp.GetVotes()) != len(batch) {
		err = fmt.Errorf("participant answered %d votes for %d transactions", len(resp.GetVotes()), len(batch))
	}
	for i, c := range batch {
		if err != nil {
			c.done <- prepareResult{err: err}
		} else {
			c.done <- prepareResult{vote: resp.GetVotes()[i]}
		}
	}
}
