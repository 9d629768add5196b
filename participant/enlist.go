package participant

import (
	"context"
	"time"

	"github.com/verdict-tx/verdict/internal/batch"
	"github.com/verdict-tx/verdict/internal/coordconn"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Enlist batching: the enlistments due at one coordinator cluster at the same
// moment go in one call (see internal/batch: an idle participant sends one at
// once, so enlisting stays synchronous and adds no wait).
const (
	maxEnlistBatch = 512
	maxEnlistCalls = 4
	enlistTimeout  = 10 * time.Second
)

type enlister = batch.Batcher[string, *verdictv1.EnlistResult]

func (s *Server) newEnlister(conn *coordconn.Conn) *enlister {
	me := &verdictv1.ParticipantRef{Name: s.cfg.Name, Address: s.cfg.Address}
	return &enlister{
		Send: func(ctx context.Context, ids []string) ([]*verdictv1.EnlistResult, error) {
			resp, err := conn.Coordinator().Enlist(ctx, &verdictv1.EnlistRequest{Participant: me, Txids: ids})
			return resp.GetResults(), err
		},
		MaxBatch:    maxEnlistBatch,
		MaxInflight: maxEnlistCalls,
		Timeout:     enlistTimeout,
		Ctx:         s.ctx,
	}
}
