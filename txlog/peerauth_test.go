package txlog

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/verdict-tx/verdict/internal/testwait"
)

// forgedApp is a MsgApp from the made-up node from to node gn, in term,
// that appends one entry after gn's last one and commits it: a node that
// takes it applies the entry.
func forgedApp(t *testing.T, gn *groupNode, from, term uint64) *raftpb.Message {
	t.Helper()
	last, err := gn.node.storage.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	lastTerm, err := gn.node.storage.Term(last)
	if err != nil {
		t.Fatal(err)
	}
	data := binary.BigEndian.AppendUint64(nil, 1)
	data = append(data, "forged record"...)
	return &raftpb.Message{
		Type: raftpb.MsgApp.Enum(), From: new(from), To: new(gn.node.ID()), Term: new(term),
		Index: new(last), LogTerm: new(lastTerm), Commit: new(last + 1),
		Entries: []*raftpb.Entry{{Term: new(term), Index: new(last + 1), Data: data}},
	}
}

// A node takes raft messages only from the members of its configuration:
// a heartbeat from a made-up id with a term far ahead leaves the leader
// leading in its term, and an append from a made-up id, sent to every
// node, commits nothing anywhere; each node counts what it dropped. The
// group goes on committing.
func TestTransportDropsNonMembers(t *testing.T) {
	g := newGroup(t, 3, nil)
	g.propose(1)
	lead := g.leader()
	testwait.For(t, 10*time.Second, "every node to apply the entry", func() bool {
		for id := uint64(1); id <= 3; id++ {
			if g.get(id).sm.count() == 0 {
				return false
			}
		}
		return true
	})
	term, _ := lead.LeaderTerm()
	const stranger = 77
	before := map[uint64]uint64{}
	for id := uint64(1); id <= 3; id++ {
		gn := g.get(id)
		before[id] = gn.sm.count()
		msgs := []*raftpb.Message{forgedApp(t, gn, stranger, term+1000)}
		if gn.node == lead {
			msgs = append(msgs, &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: new(uint64(stranger)), To: new(id), Term: new(term + 1000)})
		}
		if err := sendRaft(t, g.peers()[id], msgs...); err != nil {
			t.Fatalf("send to node %d: %v", id, err)
		}
	}
	if got, ok := lead.LeaderTerm(); !ok || got != term {
		t.Fatalf("after the forged messages node %d leads in term %d (%v); want it leading in term %d", lead.ID(), got, ok, term)
	}
	g.propose(1)
	testwait.For(t, 10*time.Second, "every node to apply the new entry", func() bool {
		for id := uint64(1); id <= 3; id++ {
			if g.get(id).sm.count() < before[id]+1 {
				return false
			}
		}
		return true
	})
	for id := uint64(1); id <= 3; id++ {
		if got := g.get(id).sm.count(); got != before[id]+1 {
			t.Errorf("node %d applied %d entries, want %d: the forged entry was applied", id, got, before[id]+1)
		}
		if n := g.get(id).node.Dropped()[DropNotMember]; n < 1 {
			t.Errorf("node %d counted %d messages dropped from non-members, want at least 1", id, n)
		}
	}
	if got, ok := lead.LeaderTerm(); !ok || got != term {
		t.Errorf("node %d leads in term %d (%v), want %d", lead.ID(), got, ok, term)
	}
}

// isSender takes the members of the configuration as applied, learners
// and both sides of a joint configuration included, never this node nor a
// removed id; a node without a configuration yet (joining) takes the ids
// of its Config.Peers; an id a certificate proves is taken unless removed
// or this node's.
func TestIsSender(t *testing.T) {
	peers := map[uint64]string{1: "a:1", 2: "b:1", 5: "e:1"}
	for _, tt := range []struct {
		name    string
		cs      *raftpb.ConfState
		removed map[uint64]bool
		want    []uint64 // of ids 1..9
	}{
		{"joining: no configuration", &raftpb.ConfState{}, nil, []uint64{2, 5}},
		{"joining, a peer removed", &raftpb.ConfState{}, map[uint64]bool{5: true}, []uint64{2}},
		{"voters and learners", &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}, nil, []uint64{2, 3, 4}},
		{"joint", &raftpb.ConfState{Voters: []uint64{1, 6}, VotersOutgoing: []uint64{1, 2}, LearnersNext: []uint64{7}}, nil, []uint64{2, 6, 7}},
		{"removed", &raftpb.ConfState{Voters: []uint64{1, 2, 3}}, map[uint64]bool{3: true}, []uint64{2}},
	} {
		n := &Node{cfg: Config{ID: 1, Peers: peers}, confState: tt.cs, removed: tt.removed}
		var got []uint64
		for id := uint64(0); id <= 9; id++ {
			if n.isSender(id, false) {
				got = append(got, id)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: senders %v, want %v", tt.name, got, tt.want)
		}
		// An id a certificate proves is taken unless it is this node or
		// removed.
		for id := uint64(0); id <= 9; id++ {
			if want := id != 1 && !tt.removed[id]; n.isSender(id, true) != want {
				t.Errorf("%s: proven sender %d taken = %v, want %v", tt.name, id, !want, want)
			}
		}
	}
}
