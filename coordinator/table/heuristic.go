package table

import (
	"slices"

	"google.golang.org/protobuf/proto"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Result reasons of a HeuristicResolution record that the state machine
// ignored. An applied one has an empty reason and the transaction's
// outcome.
const (
	ReasonHeuristicUnknownTx      = "heuristic resolution ignored: the table does not hold the transaction"
	ReasonHeuristicDone           = "heuristic resolution ignored: the transaction's phase 2 is complete"
	ReasonHeuristicNotParticipant = "heuristic resolution ignored: not a participant of the transaction"
	ReasonHeuristicRepeated       = "heuristic resolution ignored: the participant is resolved already"
)

// applyHeuristic records an operator's heuristic resolution of one
// participant's phase 2. Only a decided, undone transaction's own
// participants can be resolved, each once (the first resolution's who,
// when and why are kept). The transaction stays undone: the leader's phase
// 2 stops waiting for the participant, and logs DONE once every other one
// has acknowledged.
func (s *Table) applyHeuristic(h *verdictv1.HeuristicResolution) Result {
	if h.GetTxid() == "" || h.GetParticipant() == "" || h.GetReason() == "" {
		return Result{Reason: ReasonInvalidRecord}
	}
	e, ok := s.txs[h.GetTxid()]
	switch {
	case !ok:
		return Result{Reason: ReasonHeuristicUnknownTx}
	case e.done:
		return Result{Outcome: e.outcome, Reason: ReasonHeuristicDone}
	case !slices.ContainsFunc(e.participants, func(p *verdictv1.ParticipantRef) bool { return p.GetName() == h.GetParticipant() }):
		return Result{Outcome: e.outcome, Reason: ReasonHeuristicNotParticipant}
	case ResolvedHeuristically(e.heuristics, h.GetParticipant()):
		return Result{Outcome: e.outcome, Reason: ReasonHeuristicRepeated}
	}
	e.heuristics = append(e.heuristics, proto.CloneOf(h))
	return Result{Outcome: e.outcome}
}

// ResolvedHeuristically reports whether hs, the heuristic resolutions of
// one transaction, resolve its participant name.
func ResolvedHeuristically(hs []*verdictv1.HeuristicResolution, name string) bool {
	return slices.ContainsFunc(hs, func(h *verdictv1.HeuristicResolution) bool { return h.GetParticipant() == name })
}

// Unresolved returns the participants of tx that no heuristic resolution
// covers: those phase 2 still waits for.
func Unresolved(tx *verdictv1.Transaction) []*verdictv1.ParticipantRef {
	hs := tx.GetHeuristics()
	if len(hs) == 0 {
		return tx.GetParticipants()
	}
	var out []*verdictv1.ParticipantRef
	for _, p := range tx.GetParticipants() {
		if !ResolvedHeuristically(hs, p.GetName()) {
			out = append(out, p)
		}
	}
	return out
}
