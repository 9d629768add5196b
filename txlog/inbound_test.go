package txlog

import (
	"math"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/verdict-tx/verdict/internal/testwait"
	peerv1 "github.com/verdict-tx/verdict/proto/verdict/peer/v1"
)

// sendRaw sends msgs to the node at addr on one peer stream, as a peer
// would, and waits until the node has handled them all.
func sendRaw(t *testing.T, addr string, msgs ...*peerv1.RaftMessage) {
	t.Helper()
	if err := sendStream(t, addr, msgs); err != nil {
		t.Fatalf("stream: %v", err)
	}
}

// raw marshals m as a peer stream message; snapData, if any, goes first in
// a chunk, as a MsgSnap's data does.
func raw(t *testing.T, m *raftpb.Message, snapData []byte) []*peerv1.RaftMessage {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out []*peerv1.RaftMessage
	if len(snapData) > 0 {
		out = append(out, &peerv1.RaftMessage{SnapshotChunk: snapData})
	}
	return append(out, &peerv1.RaftMessage{Data: data})
}

// clusterSnap marshals a ClusterSnapshot holding state.
func clusterSnap(t *testing.T, state []byte) []byte {
	t.Helper()
	b, err := proto.Marshal(&peerv1.ClusterSnapshot{State: state})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A message that would poison a node's data dir, or crash it, is refused
// before raft steps it, even from a member's id at its address: a snapshot
// that does not decode (the envelope, or the state machine's state), one
// whose configuration raft cannot restore, a term no election could reach,
// entries that do not form a log slice, an undecodable membership change,
// and a heartbeat that commits past the node's log. After each, the node
// runs on, follows its leader, and starts again from its data dir.
func TestPeerMessagesCheckedBeforePersisting(t *testing.T) {
	g := newGroup(t, 3, nil)
	g.propose(3)
	lead := g.leader()
	fid := g.follower().ID()
	voters := &raftpb.ConfState{Voters: []uint64{1, 2, 3}}

	// Each case builds its messages from the follower's current state:
	// its term and its last index (all of it committed: the group is idle).
	type state struct{ term, last uint64 }
	snap := func(data []byte, cs *raftpb.ConfState) func(state) []*peerv1.RaftMessage {
		return func(s state) []*peerv1.RaftMessage {
			return raw(t, &raftpb.Message{
				Type: raftpb.MsgSnap.Enum(), From: new(lead.ID()), To: new(fid), Term: new(s.term),
				Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(s.last + 1000), Term: new(s.term), ConfState: cs}},
			}, data)
		}
	}
	app := func(term func(state) uint64, ents func(state) []*raftpb.Entry) func(state) []*peerv1.RaftMessage {
		return func(s state) []*peerv1.RaftMessage {
			es := ents(s)
			return raw(t, &raftpb.Message{
				Type: raftpb.MsgApp.Enum(), From: new(lead.ID()), To: new(fid), Term: new(term(s)),
				Index: new(s.last), LogTerm: new(s.term), Commit: new(s.last + uint64(len(es))), Entries: es,
			}, nil)
		}
	}
	same := func(s state) uint64 { return s.term }
	one := func(typ raftpb.EntryType, data []byte) func(state) []*raftpb.Entry {
		return func(s state) []*raftpb.Entry {
			return []*raftpb.Entry{{Index: new(s.last + 1), Term: new(s.term), Type: typ.Enum(), Data: data}}
		}
	}
	cases := []struct {
		name string
		msgs func(state) []*peerv1.RaftMessage
	}{
		{"snapshot of garbage", snap([]byte("not a snapshot at all, just bytes"), voters)},
		{"snapshot whose state does not decode", snap(clusterSnap(t, []byte{1, 2}), voters)},
		{"snapshot with a voter also a learner", snap(clusterSnap(t, make([]byte, 8)), &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{3}})},
		{"append at the largest term", app(func(state) uint64 { return math.MaxUint64 }, func(state) []*raftpb.Entry { return nil })},
		{"append 2^40 terms ahead", app(func(s state) uint64 { return s.term + 1<<40 }, func(state) []*raftpb.Entry { return nil })},
		{"append of an entry from a later term", app(same, func(s state) []*raftpb.Entry {
			return []*raftpb.Entry{{Index: new(s.last + 1), Term: new(s.term + 5), Data: []byte("x")}}
		})},
		{"append with a gap", app(same, func(s state) []*raftpb.Entry {
			return []*raftpb.Entry{{Index: new(s.last + 1), Term: new(s.term)}, {Index: new(s.last + 3), Term: new(s.term)}}
		})},
		{"append of an undecodable membership change", app(same, one(raftpb.EntryConfChange, []byte{0xff, 0xff, 0xff}))},
		{"heartbeat committing past the log", func(s state) []*peerv1.RaftMessage {
			return raw(t, &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: new(lead.ID()), To: new(fid), Term: new(s.term), Commit: new(s.last + 1<<30)}, nil)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lead := g.leader()
			f := g.get(fid).node
			testwait.For(t, 10*time.Second, "the follower to catch up", func() bool { return f.Status().Applied >= lead.Status().Commit })
			st := f.Status()
			sendRaw(t, g.peers()[fid], tc.msgs(state{term: st.Term, last: st.Commit})...)

			g.propose(2)
			lead = g.leader()
			want := lead.Status().Commit
			testwait.For(t, 10*time.Second, "the follower to apply the leader's log", func() bool {
				select {
				case <-f.Done():
					t.Fatalf("follower stopped: %v", f.Err())
				default:
				}
				return f.Status().Applied >= want
			})
			if term := f.Status().Term; term > 1<<20 {
				t.Fatalf("follower at term %d: an absurd term was taken", term)
			}
			if f.Counters().RefusedMessages == 0 {
				t.Error("no message counted as refused")
			}
			g.stop(fid)
			f = g.start(fid, nil, g.peers(), false).node
			g.propose(1)
			want = g.leader().Status().Commit
			testwait.For(t, 10*time.Second, "the restarted follower to apply the leader's log", func() bool { return f.Status().Applied >= want })
		})
	}
}
