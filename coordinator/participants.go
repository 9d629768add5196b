package coordinator

import (
	"context"
	"sync"

	"google.golang.org/grpc"

	batching "github.com/verdict-tx/verdict/internal/batch"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// participantPool reaches participants over one long-lived connection per
// address.
// It also batches prepares per address.
type participantPool struct {
	ctx   context.Context // cancelled when the node stops
	conns *conns

	mu        sync.Mutex
	preparers map[string]*batching.Batcher[string, *verdictv1.PrepareVote]
}

func newParticipantPool(ctx context.Context, dial []grpc.DialOption) *participantPool {
	return &participantPool{ctx: ctx, conns: newConns(dial), preparers: map[string]*batching.Batcher[string, *verdictv1.PrepareVote]{}}
}

func (p *participantPool) client(addr string) (verdictv1.ParticipantClient, error) {
	conn, err := p.conns.get(addr)
	if err != nil {
		return nil, err
	}
	return verdictv1.NewParticipantClient(conn), nil
}

// prepare asks the participant at addr for its vote on id.
func (p *participantPool) prepare(ctx context.Context, addr, id string) (*verdictv1.PrepareVote, error) {
	p.mu.Lock()
	pr, ok := p.preparers[addr]
	if !ok {
		pr = p.newPreparer(addr)
		p.preparers[addr] = pr
	}
	p.mu.Unlock()
	return pr.Do(ctx, id)
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

func (p *participantPool) close() { p.conns.close() }
