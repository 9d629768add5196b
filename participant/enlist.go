package participant

import (
	"context"
	"time"

	"github.com/verdict-tx/verdict/internal/batch"
	"github.com/verdict-tx/verdict/internal/coordconn"
	"github.com/verdict-tx/verdict/internal/tracing"
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

type enlister = batch.Batcher[enlistment, *verdictv1.EnlistResult]

// enlistment is one transaction to enlist in, with this participant's
// early YES vote if yes (Config.EarlyVote).
type enlistment struct {
	tx  txmeta.Tx
	yes bool
}

func (s *Server) newEnlister(conn *coordconn.Conn) *enlister {
	me := &verdictv1.ParticipantRef{Name: s.cfg.Name, Address: s.cfg.Address}
	return &enlister{
		Send: func(ctx context.Context, es []enlistment) ([]*verdictv1.EnlistResult, error) {
			resp, err := conn.Coordinator().Enlist(ctx, enlistRequest(me, es))
			return resp.GetResults(), err
		},
		MaxBatch:    maxEnlistBatch,
		MaxInflight: maxEnlistCalls,
		Timeout:     enlistTimeout,
		Ctx:         s.ctx,
		Trace:       tracing.New(s.cfg.TracerProvider).Batch("verdict.enlist"),
	}
}

// enlistRequest enlists me in es, with the stamps of those their
// initiator began itself (none if it began none of them) and the early
// votes (none if there are none).
func enlistRequest(me *verdictv1.ParticipantRef, es []enlistment) *verdictv1.EnlistRequest {
	req := &verdictv1.EnlistRequest{Participant: me, Txids: make([]string, len(es))}
	for i, e := range es {
		tx := e.tx
		req.Txids[i] = tx.ID
		if e.yes {
			if req.Votes == nil {
				req.Votes = make([]verdictv1.Vote, len(es))
			}
			req.Votes[i] = verdictv1.Vote_VOTE_YES
		}
		if tx.Term == 0 {
			continue
		}
		if req.Stamps == nil {
			req.Stamps = make([]*verdictv1.TxStamp, len(es))
			for j := range req.Stamps {
				req.Stamps[j] = &verdictv1.TxStamp{}
			}
		}
		req.Stamps[i] = &verdictv1.TxStamp{Term: tx.Term, DeadlineUnixMs: tx.Deadline.UnixMilli()}
	}
	return req
}
