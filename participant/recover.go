package participant

import (
	"context"
	"errors"
	"fmt"

	"github.com/verdict-tx/verdict/internal/coordconn"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// ErrNoCoordinators is returned by Recover when there is prepared work to
// resolve but no coordinator endpoint is known: set Config.Coordinators.
var ErrNoCoordinators = errors.New("verdict: no coordinator endpoints to recover with")

// Recover makes one recovery pass: for each transaction the Resource holds
// prepared (if it is a Recoverer), it asks the coordinator for the outcome
// and applies it: COMMITTED → Resource.Commit, ABORTED → Resource.Abort.
// It asks as the holder of prepared work (OutcomeRequest.prepared), for
// which a transaction the leader does not know is presumed aborted. A
// PENDING, UNKNOWN or EXPIRED outcome, or a failed question, leaves the
// transaction prepared (a prepared participant never decides alone): the
// next pass of the recovery loop asks again. EXPIRED (the coordinator no
// longer remembers the decision) is logged as an error for an operator to
// resolve. It returns the first error, after trying every transaction.
func (s *Server) Recover(ctx context.Context) error {
	rec, ok := s.cfg.Resource.(Recoverer)
	if !ok {
		return nil
	}
	ids, err := rec.Prepared(ctx)
	if err != nil {
		return fmt.Errorf("verdict: list prepared transactions: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	conn, err := s.recoveryConn()
	if err != nil {
		return err
	}
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
		}
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			fail(err)
			break
		}
		if err := txid.Validate(id); err != nil {
			fail(fmt.Errorf("verdict: resource holds %w", err))
			continue
		}
		// Asked as the holder of prepared work: it has not committed it
		// and refuses a late Commit once rolled back, so a transaction
		// the leader does not know is presumed aborted for it.
		resp, err := conn.Coordinator().Outcome(ctx, &verdictv1.OutcomeRequest{Txid: id, Prepared: true})
		if err != nil {
			s.log.Warn("verdict: outcome of prepared transaction unknown", "txid", id, "err", err)
			fail(fmt.Errorf("verdict: outcome of %s: %w", id, err))
			continue
		}
		if s.onOutcome != nil {
			s.onOutcome(id, resp.GetOutcome())
		}
		switch o := resp.GetOutcome(); o {
		case verdictv1.Outcome_OUTCOME_COMMITTED:
			err = s.cfg.Resource.Commit(ctx, id)
			if err == nil {
				s.committed(id)
			}
		case verdictv1.Outcome_OUTCOME_ABORTED:
			s.fence(id)
			err = s.cfg.Resource.Abort(ctx, id)
		case verdictv1.Outcome_OUTCOME_PENDING:
			s.log.Debug("verdict: prepared transaction still pending", "txid", id)
			continue
		case verdictv1.Outcome_OUTCOME_UNKNOWN:
			// Not an answer the coordinator gives a prepared asker: keep
			// the work prepared and ask again on the next pass.
			s.log.Warn("verdict: the coordinator answered OUTCOME_UNKNOWN for a prepared transaction; asking again later",
				"txid", id, "reason", resp.GetReason())
			continue
		case verdictv1.Outcome_OUTCOME_EXPIRED:
			s.log.Error("verdict: prepared transaction's outcome expired at the coordinator; an operator must resolve it",
				"txid", id)
			continue
		default:
			s.log.Warn("verdict: unexpected outcome", "txid", id, "outcome", o)
			continue
		}
		if err != nil {
			s.log.Warn("verdict: applying recovered outcome failed", "txid", id, "outcome", resp.GetOutcome(), "err", err)
			fail(fmt.Errorf("verdict: %v %s: %w", resp.GetOutcome(), id, err))
		} else {
			s.log.Info("verdict: recovered prepared transaction", "txid", id, "outcome", resp.GetOutcome())
		}
	}
	return first
}

// recoveryConn returns a connection to Config.Coordinators, or else to the
// coordinators of the most recent transaction.
func (s *Server) recoveryConn() (*coordconn.Conn, error) {
	if len(s.cfg.Coordinators) > 0 {
		return s.conns.get(s.cfg.Coordinators)
	}
	if conn, ok := s.conns.recent(); ok {
		return conn, nil
	}
	return nil, ErrNoCoordinators
}
