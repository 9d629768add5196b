package txlog

import (
	"encoding/binary"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
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
	waitUntil(t, 10*time.Second, "every node to apply the entry", func() bool {
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
	waitUntil(t, 10*time.Second, "every node to apply the new entry", func() bool {
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
