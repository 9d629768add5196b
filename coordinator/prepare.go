package coordinator

import (
	"context"
	"time"

	batching "github.com/verdict-tx/verdict/internal/batch"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Prepare batching: the prepares due at one participant at the same moment go
// in one call (see internal/batch: an idle system sends one at once).
const (
	maxPrepareBatch = 256
	maxPrepareCalls = 4
	// prepareTimeout bounds one Prepare call.
	prepareTimeout = 5 * time.Second
)

// newPreparer batches the prepares sent over pe its connection (made
// before any prepare is queued, and kept while one is in progress).
func (p *participantPool) newPreparer(pe *participantConn) *batching.Batcher[string, *verdictv1.PrepareVote] {
	return &batching.Batcher[string, *verdictv1.PrepareVote]{
		Send: func(ctx context.Context, ids []string) ([]*verdictv1.PrepareVote, error) {
			resp, err := verdictv1.NewParticipantClient(pe.conn).Prepare(ctx, &verdictv1.PrepareRequest{Txids: ids})
			return resp.GetVotes(), err
		},
		MaxBatch:    maxPrepareBatch,
		MaxInflight: maxPrepareCalls,
		Timeout:     prepareTimeout,
		Ctx:         p.ctx,
		Go:          p.goroutine,
		Trace:       p.trace,
	}
}
