package engine

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/verdict-tx/verdict/coordinator/table"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// TestFSMCheckSnapshot: the node checks a snapshot a peer sends before it
// persists it, without touching its own table.
func TestFSMCheckSnapshot(t *testing.T) {
	f := newFSM(testLogger())
	rec := &logv1.LogRecord{Kind: &logv1.LogRecord_Decision{Decision: &logv1.Decision{
		Txid: tx1, Outcome: committed, Participants: []*verdictv1.ParticipantRef{{Name: "a"}},
	}}}
	data, err := proto.Marshal(&logv1.LogBatch{Records: []*logv1.LogRecord{rec}})
	if err != nil {
		t.Fatal(err)
	}
	f.Apply(1, 1, data)
	good, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CheckSnapshot(good); err != nil {
		t.Errorf("CheckSnapshot of a good snapshot: %v", err)
	}
	if err := f.CheckSnapshot([]byte("not a snapshot \xff\xff")); !errors.Is(err, table.ErrBadSnapshot) {
		t.Errorf("CheckSnapshot of garbage = %v, want ErrBadSnapshot", err)
	}
	if err := f.CheckSnapshot(nil); err != nil {
		t.Errorf("CheckSnapshot of an empty snapshot: %v", err)
	}
	if f.size() != 1 || f.undoneCount() != 1 {
		t.Errorf("after CheckSnapshot the table holds %d (%d undone), want 1 (1)", f.size(), f.undoneCount())
	}
}
