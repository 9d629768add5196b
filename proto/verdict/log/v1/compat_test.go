package logv1_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"google.golang.org/protobuf/proto"

	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Bytes that the records' types encoded when they lived in verdict/v1
// (package verdict.v1), with every field and every record kind set: data
// directories written then must decode unchanged.
const (
	oldLogBatch      = "0a420a400a02743110011a140a027067120e3132372e302e302e313a37303031220172280b300c380342190a0b6f72646572732e7061696412027b7d1a060a016b1201760a2a12280a0274310a027432100d1a1c0a02743312140a027067120e3132372e302e302e313a37303031180e0a041a02080f0a1622140a027431120270671a026f702204676f6e652810"
	oldStateSnapshot = "0a390a027431100322140a027067120e3132372e302e302e313a37303031380b72190a0b6f72646572732e7061696412027b7d1a060a016b1201761011"
)

// roundTrip decodes old into m and checks that m encodes to the same bytes.
func roundTrip(t *testing.T, old string, m proto.Message) {
	t.Helper()
	b, err := hex.DecodeString(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatalf("decode %T: %v", m, err)
	}
	if n := len(m.ProtoReflect().GetUnknown()); n != 0 {
		t.Fatalf("%T: %d bytes of unknown fields", m, n)
	}
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Fatalf("%T re-encodes differently:\n got %x\nwant %x", m, again, b)
	}
}

func TestOldLogBatchDecodes(t *testing.T) {
	var b logv1.LogBatch
	roundTrip(t, oldLogBatch, &b)
	recs := b.GetRecords()
	if len(recs) != 4 {
		t.Fatalf("got %d records, want 4", len(recs))
	}
	d := recs[0].GetDecision()
	if d.GetTxid() != "t1" || d.GetOutcome() != verdictv1.Outcome_OUTCOME_COMMITTED || d.GetTerm() != 3 ||
		d.GetParticipants()[0].GetAddress() != "127.0.0.1:7001" || d.GetMessages()[0].GetHeaders()["k"] != "v" {
		t.Fatalf("decision: %v", d)
	}
	done := recs[1].GetDone()
	if len(done.GetTxids()) != 2 || done.GetDoneUnixMs() != 13 || done.GetOnePhase()[0].GetParticipant().GetName() != "pg" {
		t.Fatalf("done: %v", done)
	}
	if recs[2].GetPrune().GetBeforeUnixMs() != 15 {
		t.Fatalf("prune: %v", recs[2])
	}
	if h := recs[3].GetHeuristic(); h.GetOperator() != "op" || h.GetUnixMs() != 16 {
		t.Fatalf("heuristic: %v", h)
	}
}

func TestOldStateSnapshotDecodes(t *testing.T) {
	var s logv1.StateSnapshot
	roundTrip(t, oldStateSnapshot, &s)
	tx := s.GetTransactions()[0]
	if s.GetPrunedBeforeUnixMs() != 17 || tx.GetState() != verdictv1.TxState_TX_STATE_COMMITTED || tx.GetMessages()[0].GetSubject() != "orders.paid" {
		t.Fatalf("snapshot: %v", &s)
	}
}
