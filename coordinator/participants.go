package coordinator

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	batching "github.com/verdict-tx/verdict/internal/batch"
	"github.com/verdict-tx/verdict/internal/hostport"
	"github.com/verdict-tx/verdict/internal/reconnect"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// participantPool reaches participants: per participant address, one
// long-lived connection (reconnecting promptly: see internal/reconnect) and
// one prepare batcher, made on first use and
// released once the address has gone unused for the idle timeout (see
// releaseIdle). It holds at most max addresses for new transactions
// (admit); phase 2 of decisions already logged is delivered beyond it.
type participantPool struct {
	ctx   context.Context // the engine's: cancelled when it stops
	clock Clock           // times idleness
	// goroutine starts the prepare batchers' senders as the engine's.
	goroutine func(func()) bool
	dial      []grpc.DialOption
	idle      time.Duration
	max       int

	mu     sync.Mutex
	byAddr map[string]*participantConn
	closed bool
}

// participantConn is what the pool holds for one participant address.
type participantConn struct {
	conn     *grpc.ClientConn // nil until the first call
	preparer *batching.Batcher[string, *verdictv1.PrepareVote]
	lastUsed time.Time
	inflight int // calls in progress: one with some is never idle
}

func newParticipantPool(ctx context.Context, clock Clock, goroutine func(func()) bool, dial []grpc.DialOption, idle time.Duration, max int) *participantPool {
	return &participantPool{ctx: ctx, clock: clock, goroutine: goroutine, dial: reconnect.DialOptions(dial), idle: idle, max: max, byAddr: map[string]*participantConn{}}
}

// errAddressesFull answers a transaction that names a participant address
// the pool has no room for.
func errAddressesFull(max int) error {
	return errorf(ErrLimit, "verdict: %d participant addresses are in use, the maximum (--max-participant-addresses); try again once some have gone idle", max)
}

// admit holds addr for a transaction that names it: it reports false if
// addr is new and the pool is full.
func (p *participantPool) admit(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.connLocked(addr, true)
	return err == nil
}

// connLocked returns what the pool holds for addr, touched, making it if
// needed; a new address is refused when bounded and the pool is full. The
// caller holds p.mu.
func (p *participantPool) connLocked(addr string, bounded bool) (*participantConn, error) {
	if pe, ok := p.byAddr[addr]; ok {
		pe.lastUsed = p.clock.Now()
		return pe, nil
	}
	switch {
	case p.closed:
		return nil, status.Error(codes.Unavailable, "verdict: the node is stopping")
	case bounded && len(p.byAddr) >= p.max:
		return nil, errAddressesFull(p.max)
	}
	// Addresses are made canonical when they come in; one from a record
	// written before that is checked here.
	if _, err := hostport.Canonical(addr); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "verdict: participant %v", err)
	}
	pe := &participantConn{lastUsed: p.clock.Now()}
	pe.preparer = p.newPreparer(pe)
	p.byAddr[addr] = pe
	return pe, nil
}

// acquire returns what the pool holds for addr, connected, and counts a
// call in progress until release.
func (p *participantPool) acquire(addr string, bounded bool) (*participantConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pe, err := p.connLocked(addr, bounded)
	if err != nil {
		return nil, err
	}
	if pe.conn == nil {
		if pe.conn, err = grpc.NewClient(addr, p.dial...); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "verdict: participant at %s: %v", addr, err)
		}
	}
	pe.inflight++
	return pe, nil
}

func (p *participantPool) release(pe *participantConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pe.inflight--
	pe.lastUsed = p.clock.Now()
}

// prepare asks the participant at addr for its vote on id.
func (p *participantPool) prepare(ctx context.Context, addr, id string) (*verdictv1.PrepareVote, error) {
	pe, err := p.acquire(addr, true)
	if err != nil {
		return nil, err
	}
	defer p.release(pe)
	return pe.preparer.Do(ctx, id)
}

// decide sends Commit (for OUTCOME_COMMITTED) or Abort for a batch of ids.
// A decision is delivered whether or not the pool is full.
func (p *participantPool) decide(ctx context.Context, addr string, o verdictv1.Outcome, ids []string) error {
	pe, err := p.acquire(addr, false)
	if err != nil {
		return err
	}
	defer p.release(pe)
	cl := verdictv1.NewParticipantClient(pe.conn)
	req := &verdictv1.DecisionRequest{Txids: ids}
	if o == verdictv1.Outcome_OUTCOME_COMMITTED {
		_, err = cl.Commit(ctx, req)
	} else {
		_, err = cl.Abort(ctx, req)
	}
	return err
}

// releaseIdle closes the connections of the addresses unused for the idle
// timeout, with no call in progress and not in held (those a transaction
// names or phase 2 has queued work for), and forgets them.
func (p *participantPool) releaseIdle(held map[string]bool) {
	var idle []*grpc.ClientConn
	p.mu.Lock()
	now := p.clock.Now()
	for addr, pe := range p.byAddr {
		if pe.inflight > 0 || held[addr] || now.Sub(pe.lastUsed) < p.idle {
			continue
		}
		delete(p.byAddr, addr)
		if pe.conn != nil {
			idle = append(idle, pe.conn)
		}
	}
	p.mu.Unlock()
	for _, conn := range idle {
		conn.Close()
	}
}

// size is the number of participant addresses held.
func (p *participantPool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byAddr)
}

func (p *participantPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for addr, pe := range p.byAddr {
		if pe.conn != nil {
			pe.conn.Close()
		}
		delete(p.byAddr, addr)
	}
}

// releaseIdleParticipants runs until the node stops: a few times per idle
// timeout it releases the participant addresses gone idle. An address an
// active transaction names, or with phase-2 work queued, is not idle.
func (c *Coordinator) releaseIdleParticipants() {
	t := c.cfg.clock.NewTicker(max(c.parts.idle/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-t.C():
		case <-c.ctx.Done():
			return
		}
		held := map[string]bool{}
		c.active.addresses(held)
		c.delivery.busy(held)
		c.parts.releaseIdle(held)
	}
}
