package coordinator

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/coordinator/engine"
	batching "github.com/verdict-tx/verdict/internal/batch"
	"github.com/verdict-tx/verdict/internal/hostport"
	"github.com/verdict-tx/verdict/internal/reconnect"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// participantPool reaches participants: per participant address, one
// long-lived connection (reconnecting promptly: see internal/reconnect) and
// one prepare batcher, made on first use and
// released once the address has gone unused for the idle timeout (see
// ReleaseIdle). It holds at most max addresses for new transactions
// (admit); phase 2 of decisions already logged is delivered beyond it.
//
// It is the engine's engine.Participants. It owns the goroutines of its
// prepare batchers: close cancels their work and waits for them.
type participantPool struct {
	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the batchers' senders
	clock  Clock          // times idleness
	dial   []grpc.DialOption
	idle   time.Duration
	max    int
	// trace, if set, traces each batched Prepare (batch.Batcher.Trace).
	trace func(ctx context.Context, callers []context.Context) (context.Context, func(error))

	mu     sync.Mutex
	byAddr map[string]*participantConn
	closed bool
}

var _ engine.Participants = (*participantPool)(nil)

// participantConn is what the pool holds for one participant address.
type participantConn struct {
	conn     *grpc.ClientConn // nil until the first call
	preparer *batching.Batcher[string, *verdictv1.PrepareVote]
	lastUsed time.Time
	inflight int // calls in progress: one with some is never idle
}

func newParticipantPool(clock Clock, dial []grpc.DialOption, idle time.Duration, max int) *participantPool {
	ctx, cancel := context.WithCancel(context.Background())
	return &participantPool{ctx: ctx, cancel: cancel, clock: clock, dial: reconnect.DialOptions(dial), idle: idle, max: max, byAddr: map[string]*participantConn{}}
}

// goroutine runs f as one of the pool's; false once the pool is closed.
func (p *participantPool) goroutine(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// Admit holds addr for a transaction that names it: it reports false if
// addr is new and the pool is full.
func (p *participantPool) Admit(addr string) bool {
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
		return nil, status.Errorf(codes.ResourceExhausted, "verdict: %d participant addresses are in use, the maximum (--max-participant-addresses); try again once some have gone idle", p.max)
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

// Prepare asks the participant at addr for its vote on id.
func (p *participantPool) Prepare(ctx context.Context, addr, id string) (*verdictv1.PrepareVote, error) {
	pe, err := p.acquire(addr, true)
	if err != nil {
		return nil, remoteError(err)
	}
	defer p.release(pe)
	v, err := pe.preparer.Do(ctx, id)
	return v, remoteError(err)
}

// Decide sends Commit (for OUTCOME_COMMITTED) or Abort for a batch of ids.
// A decision is delivered whether or not the pool is full.
func (p *participantPool) Decide(ctx context.Context, addr string, o verdictv1.Outcome, ids []string) error {
	pe, err := p.acquire(addr, false)
	if err != nil {
		return remoteError(err)
	}
	defer p.release(pe)
	cl := verdictv1.NewParticipantClient(pe.conn)
	req := &verdictv1.DecisionRequest{Txids: ids}
	if o == verdictv1.Outcome_OUTCOME_COMMITTED {
		_, err = cl.Commit(ctx, req)
	} else {
		_, err = cl.Abort(ctx, req)
	}
	return remoteError(err)
}

// ReleaseIdle closes the connections of the addresses unused for the idle
// timeout, with no call in progress and not in held (those a transaction
// names or phase 2 has queued work for), and forgets them.
func (p *participantPool) ReleaseIdle(held map[string]bool) {
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

// close cancels the batchers' work, waits for their goroutines and closes
// every connection. The engine has stopped.
func (p *participantPool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, pe := range p.byAddr {
		if pe.conn != nil {
			pe.conn.Close()
		}
		delete(p.byAddr, addr)
	}
}

// remoteError is err, from a call to a participant, as the engine reads
// it: the status's message alone, and a deadline exceeded (the call's
// or the participant's) that wraps context.DeadlineExceeded.
func remoteError(err error) error {
	st, ok := status.FromError(err)
	if err == nil || !ok {
		return err
	}
	return &callError{msg: st.Message(), deadline: st.Code() == codes.DeadlineExceeded}
}

// callError is a failed call to a participant (see remoteError).
type callError struct {
	msg      string
	deadline bool
}

func (e *callError) Error() string { return e.msg }

func (e *callError) Unwrap() error {
	if e.deadline {
		return context.DeadlineExceeded
	}
	return nil
}
