package coordinator

import (
	"context"
	"sync"

	"google.golang.org/grpc"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// participantPool keeps one long-lived connection per participant address.
type participantPool struct {
	dial []grpc.DialOption

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newParticipantPool(dial []grpc.DialOption) *participantPool {
	return &participantPool{dial: dial, conns: map[string]*grpc.ClientConn{}}
}

func (p *participantPool) client(addr string) (verdictv1.ParticipantClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	conn, ok := p.conns[addr]
	if !ok {
		var err error
		conn, err = grpc.NewClient(addr, p.dial...)
		if err != nil {
			return nil, err
		}
		p.conns[addr] = conn
	}
	return verdictv1.NewParticipantClient(conn), nil
}

func (p *participantPool) prepare(ctx context.Context, addr, id string) (*verdictv1.PrepareResponse, error) {
	cl, err := p.client(addr)
	if err != nil {
		return nil, err
	}
	return cl.Prepare(ctx, &verdictv1.PrepareRequest{Txid: id})
}

// decide sends Commit (for OUTCOME_COMMITTED) or Abort for a batch of ids.
func (p *participantPool) decide(ctx context.Context, addr string, o verdictv1.Outcome, ids []string) error {
	cl, err := p.client(addr)
	if err != nil {
		return err
	}
	req := &verdictv1.DecisionRequest{Txids: ids}
	if o == verdictv1.Outcome_OUTCOME_COMMITTED {
		_, err = cl.Commit(ctx, req)
	} else {
		_, err = cl.Abort(ctx, req)
	}
	return err
}

func (p *participantPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, c := range p.conns {
		c.Close()
		delete(p.conns, addr)
	}
}
