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
//
// The claim "prepared here" holds from the question to the abort it may
// lead to (commitGate): a transaction committed here since it was listed,
// or with a Commit in progress, is left alone, and while its question is
// out and its answer applied a Commit of it is refused.
func (s *Server) Recover(ctx context.Context) error {
	rec, ok := s.cfg.Resource.(Recoverer)
	if !ok {
		return nil
	}
	pass := s.gate.beginPass()
	defer s.gate.endPass(pass)
	ids, err := rec.Prepared(ctx)
	if err != nil {
		return fmt.Errorf("verdict: list prepared transactions: %w", err)
	}
	s.gate.listed(pass, ids)
	if s.onListed != nil {
		s.onListed(ids)
	}
	if len(ids) == 0 {
		return nil
	}
	conn, err := s.recoveryConn()
	if err != nil {
		return err
	}
	var first error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			if first == nil {
				first = err
			}
			break
		}
		if err := s.recoverOne(ctx, conn, pass, id); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// recoverOne resolves one transaction listed prepared by pass.
func (s *Server) recoverOne(ctx context.Context, conn *coordconn.Conn, pass *recoveryPass, id string) error {
	if err := txid.Validate(id); err != nil {
		return fmt.Errorf("verdict: resource holds %w", err)
	}
	if s.txs.inCall(id) {
		// Prepared by a call still in progress (Config.EarlyVote, or an
		// adapter preparing in its handler): its enlistment may not have
		// reached the coordinator yet, whose answer would then presume an
		// abort for work it is about to count. Asked once the call is over.
		s.log.Debug("verdict: prepared transaction has a call in progress; left alone this pass", "txid", id)
		return nil
	}
	if busy := s.gate.hold(pass, id); busy != "" {
		s.log.Debug("verdict: prepared transaction left alone this pass", "txid", id, "why", busy)
		return nil
	}
	committed := false
	defer func() { s.gate.release(id, committed) }()
	// Asked as the holder of prepared work: it has not committed it
	// and refuses a Commit until the answer is applied, and a late one
	// once rolled back, so a transaction the leader does not know is
	// presumed aborted for it.
	resp, err := conn.Coordinator().Outcome(ctx, &verdictv1.OutcomeRequest{Txid: id, Prepared: true})
	if err != nil {
		s.log.Warn("verdict: outcome of prepared transaction unknown", "txid", id, "err", err)
		return fmt.Errorf("verdict: outcome of %s: %w", id, err)
	}
	if s.onOutcome != nil {
		s.onOutcome(id, resp.GetOutcome())
	}
	switch o := resp.GetOutcome(); o {
	case verdictv1.Outcome_OUTCOME_COMMITTED:
		err = s.cfg.Resource.Commit(ctx, id)
		if err == nil {
			committed = true
			s.committed(id)
		}
	case verdictv1.Outcome_OUTCOME_ABORTED:
		s.fence(id) // before the release: a Commit admitted after it is refused
		err = s.cfg.Resource.Abort(ctx, id)
	case verdictv1.Outcome_OUTCOME_PENDING:
		s.log.Debug("verdict: prepared transaction still pending", "txid", id)
		return nil
	case verdictv1.Outcome_OUTCOME_UNKNOWN:
		// Not an answer the coordinator gives a prepared asker: keep
		// the work prepared and ask again on the next pass.
		s.log.Warn("verdict: the coordinator answered OUTCOME_UNKNOWN for a prepared transaction; asking again later",
			"txid", id, "reason", resp.GetReason())
		return nil
	case verdictv1.Outcome_OUTCOME_EXPIRED:
		s.log.Error("verdict: prepared transaction's outcome expired at the coordinator; an operator must resolve it",
			"txid", id)
		return nil
	default:
		s.log.Warn("verdict: unexpected outcome", "txid", id, "outcome", o)
		return nil
	}
	if err != nil {
		s.log.Warn("verdict: applying recovered outcome failed", "txid", id, "outcome", resp.GetOutcome(), "err", err)
		return fmt.Errorf("verdict: %v %s: %w", resp.GetOutcome(), id, err)
	}
	s.log.Info("verdict: recovered prepared transaction", "txid", id, "outcome", resp.GetOutcome())
	return nil
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
