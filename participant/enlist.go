package participant

import (
	"context"
	"time"

	"github.com/verdict-tx/verdict/internal/batch"
	"github.com/verdict-tx/verdict/internal/coordconn"
	"github.com/verdict-tx/verdict/internal/txmeta"
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

type enlister = batch.Batcher[txmeta.Tx, *verdictv1.EnlistResult]

func (s *Server) newEnlister(conn *coordconn.Conn) *enlister {
	me := &verdictv1.ParticipantRef{Name: s.cfg.Name, Address: s.cfg.Address}
	return &enlister{
		Send: func(ctx context.Context, txs []txmeta.Tx) ([]*verdictv1.EnlistResult, error) {
			resp, err := conn.Coordinator().Enlist(ctx, enlistRequest(me, txs))
			return resp.GetResults(), err
		},
		MaxBatch:    maxEnlistBatch,
		MaxInflight: maxEnlistCalls,
		Timeout:     enlistTimeout,
		Ctx:         s.ctx,
	}
}

// enlistRequest enlists me in txs, with the stamps of those their
// initiator began itself (none if it began none of them).
func enlistRequest(me *verdictv1.ParticipantRef, txs []txmeta.Tx) *verdictv1.EnlistRequest {
	req := &verdictv1.EnlistRequest{Participant: me, Txids: make([]string, len(txs))}
	for i, tx := range txs {
		req.Txids[i] = tx.ID
		if tx.Term == 0 {
			continue
		}
		if req.Stamps == nil {
			req.Stamps = make([]*verdictv1.TxStamp, len(txs))
			for j := range req.Stamps {
				req.Stamps[j] = &verdictv1.TxStamp{}
			}
		}
		req.Stamps[i] = &verdictv1.TxStamp{Term: tx.Term, DeadlineUnixMs: tx.Deadline.UnixMilli()}
	}
	return req
}
