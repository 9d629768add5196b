package participant

import (
	"context"
	"time"
)

// sweepAbortTimeout bounds one Resource.Abort of the sweep.
const sweepAbortTimeout = 10 * time.Second

// sweepLoop runs the deadline sweep every Config.SweepInterval until Stop.
func (s *Server) sweepLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.sweep(s.ctx)
	}
}

// sweep makes one pass of the deadline sweep: the work of each transaction
// past its deadline plus Config.DeadlineSlack, with no call or Prepare in
// progress and no YES vote given, is aborted through Resource.Abort, and
// the transaction is fenced: a late Prepare votes NO, later work is
// refused. This participant has not voted, so aborting is always safe; it
// frees what the work holds when the initiator, or the coordinator's
// Abort, never comes. An abort that fails is logged and retried on the
// next pass. Prepared work is never touched: it waits for its outcome.
func (s *Server) sweep(ctx context.Context) {
	for _, id := range s.txs.expired(s.now(), s.cfg.DeadlineSlack) {
		if ctx.Err() != nil {
			return
		}
		actx, cancel := context.WithTimeout(ctx, sweepAbortTimeout)
		err := s.cfg.Resource.Abort(actx, id)
		cancel()
		if err != nil {
			s.log.Warn("verdict: cannot abort unprepared work past the deadline; retrying", "txid", id, "err", err)
			continue
		}
		s.txs.aborted(id)
		s.log.Info("verdict: aborted unprepared work past the transaction deadline", "txid", id)
	}
}
