package table

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// heuristic builds a HeuristicResolution record; unix_ms derives from the
// operator's name so that records are told apart.
func heuristic(txid, part, operator, reason string) *logv1.LogRecord {
	return &logv1.LogRecord{Kind: &logv1.LogRecord_Heuristic{Heuristic: heuristicOf(txid, part, operator, reason)}}
}

func heuristicOf(txid, part, operator, reason string) *verdictv1.HeuristicResolution {
	return &verdictv1.HeuristicResolution{Txid: txid, Participant: part, Operator: operator, Reason: reason, UnixMs: 3000 + int64(len(operator))}
}

// withHeuristics adds resolutions to an expected Transaction.
func withHeuristics(tx *verdictv1.Transaction, hs ...*verdictv1.HeuristicResolution) *verdictv1.Transaction {
	tx.Heuristics = hs
	return tx
}

func TestStateHeuristic(t *testing.T) {
	runStateCases(t, []stateCase{
		{
			name:        "resolves a participant of an undone commit",
			batches:     []*logv1.LogBatch{batch(decision(tx1, committed, "", "a", "b"), heuristic(tx1, "b", "alice", "host b destroyed"))},
			wantResults: [][]Result{{{Outcome: committed}, {Outcome: committed}}},
			wantTxs:     []*verdictv1.Transaction{withHeuristics(want(tx1, stCommitted, "", 0, "a", "b"), heuristicOf(tx1, "b", "alice", "host b destroyed"))},
			wantUndone:  []string{tx1},
		},
		{
			name: "resolves an abort's participant, then done keeps the audit",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, aborted, "no", "a", "b")),
				batch(heuristic(tx1, "a", "bob", "gone"), done(5000, tx1)),
			},
			wantResults: [][]Result{{{aborted, "no"}}, {{Outcome: aborted}, {}}},
			wantTxs:     []*verdictv1.Transaction{withHeuristics(want(tx1, stAborted, "no", 5000, "a", "b"), heuristicOf(tx1, "a", "bob", "gone"))},
		},
		{
			name: "two participants in log order; a repeat keeps the first",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, committed, "", "a", "b")),
				batch(heuristic(tx1, "b", "alice", "first"), heuristic(tx1, "a", "bob", "second")),
				batch(heuristic(tx1, "b", "carol", "again")),
			},
			wantResults: [][]Result{
				{{Outcome: committed}},
				{{Outcome: committed}, {Outcome: committed}},
				{{committed, ReasonHeuristicRepeated}},
			},
			wantTxs: []*verdictv1.Transaction{withHeuristics(want(tx1, stCommitted, "", 0, "a", "b"),
				heuristicOf(tx1, "b", "alice", "first"), heuristicOf(tx1, "a", "bob", "second"))},
			wantUndone: []string{tx1},
		},
		{
			name:        "unknown transaction is ignored",
			batches:     []*logv1.LogBatch{batch(heuristic(tx1, "a", "alice", "why"), decision(tx1, committed, "", "a"))},
			wantResults: [][]Result{{{Reason: ReasonHeuristicUnknownTx}, {Outcome: committed}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stCommitted, "", 0, "a")},
			wantUndone:  []string{tx1},
		},
		{
			name:        "done transaction is ignored",
			batches:     []*logv1.LogBatch{batch(decision(tx1, committed, "", "a"), done(5000, tx1), heuristic(tx1, "a", "alice", "why"))},
			wantResults: [][]Result{{{Outcome: committed}, {}, {committed, ReasonHeuristicDone}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stCommitted, "", 5000, "a")},
		},
		{
			name:        "a name that is not a participant is ignored",
			batches:     []*logv1.LogBatch{batch(decision(tx1, committed, "", "a"), heuristic(tx1, "z", "alice", "why"))},
			wantResults: [][]Result{{{Outcome: committed}, {committed, ReasonHeuristicNotParticipant}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stCommitted, "", 0, "a")},
			wantUndone:  []string{tx1},
		},
		{
			name: "malformed records are ignored",
			batches: []*logv1.LogBatch{batch(
				decision(tx1, committed, "", "a"),
				heuristic("", "a", "alice", "why"),
				heuristic(tx1, "", "alice", "why"),
				heuristic(tx1, "a", "alice", ""),
				&logv1.LogRecord{Kind: &logv1.LogRecord_Heuristic{}},
			)},
			wantResults: [][]Result{{{Outcome: committed}, invalid, invalid, invalid, invalid}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stCommitted, "", 0, "a")},
			wantUndone:  []string{tx1},
		},
		{
			name:        "never changes an outcome",
			batches:     []*logv1.LogBatch{batch(decision(tx1, aborted, "no", "a"), heuristic(tx1, "a", "alice", "commit it"), decision(tx1, committed, "", "a"))},
			wantResults: [][]Result{{{aborted, "no"}, {Outcome: aborted}, {aborted, "no"}}},
			wantTxs:     []*verdictv1.Transaction{withHeuristics(want(tx1, stAborted, "no", 0, "a"), heuristicOf(tx1, "a", "alice", "commit it"))},
			wantUndone:  []string{tx1},
		},
	})
}

func TestStateHeuristicGetReturnsCopy(t *testing.T) {
	s := New()
	s.ApplyBatch(batch(decision(tx1, committed, "", "a", "b"), heuristic(tx1, "a", "alice", "gone")))
	got, _ := s.Get(tx1)
	got.Heuristics[0].Reason = "changed"
	again, _ := s.Get(tx1)
	if again.GetHeuristics()[0].GetReason() != "gone" {
		t.Fatal("Get shares the table's heuristic resolutions")
	}
	if parts := Unresolved(again); len(parts) != 1 || parts[0].GetName() != "b" {
		t.Errorf("Unresolved = %v, want [b]", parts)
	}
	if w := want(tx1, stCommitted, "", 0, "a", "b"); !slices.EqualFunc(Unresolved(w), w.GetParticipants(), func(a, b *verdictv1.ParticipantRef) bool { return proto.Equal(a, b) }) {
		t.Error("Unresolved of a transaction without resolutions changed its participants")
	}
}
