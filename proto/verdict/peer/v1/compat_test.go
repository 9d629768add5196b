package peerv1_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"google.golang.org/protobuf/proto"

	peerv1 "github.com/verdict-tx/verdict/proto/verdict/peer/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// oldClusterSnapshot is a snapshot's data as written when ClusterSnapshot
// lived in verdict/v1 and embedded verdict.v1.Member: two members (one a
// learner), a removed id and the state's bytes.
const oldClusterSnapshot = "0a0708011203613a310a0908021203623a3218011201031a3d0a390a027431100322140a027067120e3132372e302e302e313a37303031380b72190a0b6f72646572732e7061696412027b7d1a060a016b1201761011"

func TestOldClusterSnapshotDecodes(t *testing.T) {
	b, err := hex.DecodeString(oldClusterSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	var cs peerv1.ClusterSnapshot
	if err := proto.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	ms := cs.GetMembers()
	if len(ms) != 2 || ms[0].GetId() != 1 || ms[0].GetAddress() != "a:1" || ms[0].GetLearner() ||
		ms[1].GetId() != 2 || ms[1].GetAddress() != "b:2" || !ms[1].GetLearner() {
		t.Fatalf("members: %v", ms)
	}
	if len(cs.GetRemovedIds()) != 1 || cs.GetRemovedIds()[0] != 3 || len(cs.GetState()) != 61 {
		t.Fatalf("snapshot: %v", &cs)
	}
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(&cs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Fatalf("re-encodes differently:\n got %x\nwant %x", again, b)
	}
}

// TestMemberMatchesAPIMember checks that every field of the snapshot's
// Member has the number and kind of the same field of the Admin API's
// Member, whose bytes older snapshots hold.
func TestMemberMatchesAPIMember(t *testing.T) {
	api := (&verdictv1.Member{}).ProtoReflect().Descriptor().Fields()
	fs := (&peerv1.Member{}).ProtoReflect().Descriptor().Fields()
	for i := range fs.Len() {
		f := fs.Get(i)
		a := api.ByName(f.Name())
		if a == nil || a.Number() != f.Number() || a.Kind() != f.Kind() || a.Cardinality() != f.Cardinality() {
			t.Errorf("field %s (%d, %v) differs from verdict.v1.Member's %v", f.Name(), f.Number(), f.Kind(), a)
		}
	}
}
