package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/verdict-tx/verdict/coordinator/table"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Forget records an operator's heuristic resolution of one participant's
// phase 2: for a decided transaction whose phase 2 is not complete and a
// participant that has not acknowledged it (and never will: it is gone for
// good). The resolution goes through the replicated log (who, when, why),
// so every replica, and every later leader, stops waiting for that
// participant; once the others have acknowledged, the transaction is
// DONE. It is logged, counted (Server.HeuristicCount) and published as a
// "heuristic" lifecycle event. It changes no outcome: the participant, if
// it ever comes back, must be repaired by hand.
//
// The leader reacts to the record when it is applied (heuristicApplied),
// not when this call returns: a call whose context ends before the record
// is applied must not leave phase 2 waiting for the participant.
func (c *Engine) Forget(ctx context.Context, req *verdictv1.ForgetTransactionRequest) (*verdictv1.ForgetTransactionResponse, error) {
	if _, ok := c.leaderTerm(); !ok {
		return nil, errNotLeader()
	}
	id, name := req.GetTxid(), req.GetParticipant()
	tx, err := c.undoneDecision(id, "forget")
	if err != nil {
		return nil, err
	}
	c.delivery.annotate(tx)
	switch {
	case !slices.ContainsFunc(tx.GetParticipants(), func(p *verdictv1.ParticipantRef) bool { return p.GetName() == name }):
		return nil, errorf(ErrUnknownTx, "verdict: transaction %s has no participant %q in its phase 2 (it has: %s)", id, name, participantList(tx.GetParticipants()))
	case table.ResolvedHeuristically(tx.GetHeuristics(), name):
		// Resolving again is idempotent; it makes sure that this leader's
		// phase 2 has stopped waiting for the participant.
		c.delivery.resolve(id, name)
		return nil, errorf(ErrNotActive, "verdict: participant %s of transaction %s is resolved heuristically already", name, id)
	case c.delivery.completed(id):
		return nil, errorf(ErrNotActive, "verdict: phase 2 of transaction %s completed; its DONE record is pending: nothing to forget", id)
	case slices.Contains(tx.GetAcked(), name):
		return nil, errorf(ErrNotActive, "verdict: participant %s has acknowledged phase 2 of transaction %s: nothing to forget", name, id)
	}
	h := &verdictv1.HeuristicResolution{
		Txid:        id,
		Participant: name,
		Operator:    req.GetOperator(),
		Reason:      req.GetReason(),
		UnixMs:      c.cfg.clock.Now().UnixMilli(),
	}
	res, err := c.prop.submit(ctx, &logv1.LogRecord{Kind: &logv1.LogRecord_Heuristic{Heuristic: h}}, true)
	if err != nil {
		return nil, proposeError(err)
	}
	if res.Reason != "" { // phase 2 completed (or another operator won) meanwhile
		if res.Reason == table.ReasonHeuristicRepeated {
			c.delivery.resolve(id, name)
		}
		return nil, errorf(ErrNotActive, "verdict: transaction %s: %s", id, res.Reason)
	}
	if tx, err = c.Describe(id); err != nil {
		return nil, err
	}
	return &verdictv1.ForgetTransactionResponse{Transaction: tx}, nil
}

// applied is the fsm's observer: the engine's reaction to applied records.
// A heuristic resolution stops the ready leader's phase 2 for its
// participant; a DONE record ends what the leader kept of phase 2.
func (c *Engine) applied(rec *logv1.LogRecord, res table.Result) {
	switch k := rec.GetKind().(type) {
	case *logv1.LogRecord_Heuristic:
		if res.Reason == "" {
			c.heuristicApplied(k.Heuristic, res.Outcome)
		}
	case *logv1.LogRecord_Done:
		c.delivery.doneApplied(k.Done.GetTxids())
	case *logv1.LogRecord_Divergence:
		if k.Divergence.GetNode() == c.fsm.self {
			c.OnLeadership(false, 0) // marked or cleared: whether it leads changed
		}
	}
}

// heuristicApplied reacts, on the ready leader, to a heuristic resolution
// that the state machine has just recorded (once per participant): phase
// 2 stops waiting for the participant, and the resolution is counted,
// logged and published. A node that is not the ready leader does
// nothing: the leader it may become re-drives phase 2 from its table,
// which leaves the resolved participant out.
func (c *Engine) heuristicApplied(h *verdictv1.HeuristicResolution, o verdictv1.Outcome) {
	if _, ok := c.leaderTerm(); !ok {
		return
	}
	id, name := h.GetTxid(), h.GetParticipant()
	if hk := c.cfg.hooks; hk != nil && hk.HeuristicApplied != nil && !hk.HeuristicApplied(id, name) {
		return
	}
	c.heuristics.Add(1)
	detail := "resolved by " + h.GetOperator() + ": " + h.GetReason()
	c.timeline.add(id, eventHeuristic, name, detail)
	c.delivery.resolve(id, name)
	c.cfg.log.Warn("participant's phase 2 resolved heuristically by an operator", "txid", id, "outcome", OutcomeWord(o),
		"participant", name, "operator", h.GetOperator(), "reason", h.GetReason())
	if c.pub != nil {
		tx, _ := c.fsm.get(id)
		c.emit(EventHeuristic, id, o, "participant "+name+" "+detail, tx.GetParticipants())
	}
}

// proposeError explains an error of a waited-for proposal: the record may
// or may not be in the log. An engine error says enough.
func proposeError(err error) error {
	var known *engineError
	if errors.As(err, &known) || err == ErrNotLeader {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("verdict: not confirmed in time whether the record was logged (%w): look again before repeating", err)
	}
	return errorf(ErrUnavailable, "verdict: record perhaps not logged (%v): look (tx show) before trying again", err)
}

// participantList names parts, comma-separated.
func participantList(parts []*verdictv1.ParticipantRef) string {
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.GetName()
	}
	return strings.Join(names, ", ")
}
