package table

import (
	"testing"

	"google.golang.org/protobuf/proto"

	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func withMessages(rec *logv1.LogRecord, subjects ...string) *logv1.LogRecord {
	for _, s := range subjects {
		rec.GetDecision().Messages = append(rec.GetDecision().Messages, &verdictv1.StagedMessage{Subject: s, Data: []byte(s)})
	}
	return rec
}

// TestStateMessages: a COMMIT keeps its staged messages until DONE, across
// a snapshot; an ABORT keeps none; the table holds copies.
func TestStateMessages(t *testing.T) {
	s := New()
	commit := withMessages(decision(tx1, committed, "", "p1"), "a.1", "a.2")
	s.ApplyBatch(batch(commit, withMessages(decision(tx2, aborted, "no"), "b.1"), decision(tx3, committed, "")))
	commit.GetDecision().Messages[0].Subject = "changed"

	if got := s.Messages(tx1); len(got) != 2 || got[0].GetSubject() != "a.1" {
		t.Fatalf("Messages(tx1) = %v, want a.1, a.2 as applied", got)
	}
	if got := s.Messages(tx2); got != nil {
		t.Fatalf("an ABORT kept messages %v", got)
	}
	if tx, _ := s.Get(tx1); tx.GetStagedCount() != 2 || tx.GetMessages() != nil {
		t.Fatalf("Get(tx1) staged_count %d, messages %v; want 2 and none copied", tx.GetStagedCount(), tx.GetMessages())
	}
	undone := s.Undone()
	if undone[0].GetStagedCount() != 2 || undone[2].GetStagedCount() != 0 {
		t.Fatalf("Undone staged counts %d, %d", undone[0].GetStagedCount(), undone[2].GetStagedCount())
	}

	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&logv1.Decision{Messages: r.Messages(tx1)}, &logv1.Decision{Messages: s.Messages(tx1)}) {
		t.Fatal("restored messages differ")
	}

	for _, st := range []*Table{s, r} {
		st.ApplyBatch(batch(done(5000, tx1)))
		if got := st.Messages(tx1); got != nil {
			t.Fatalf("messages kept after DONE: %v", got)
		}
		if tx, _ := st.Get(tx1); tx.GetStagedCount() != 0 || !tx.GetDone() {
			t.Fatalf("after DONE: %v", tx)
		}
	}
}
