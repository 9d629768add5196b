package txlog

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/verdict-tx/verdict/internal/testwait"
)

func ctx5s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// addNode adds node id to g as a learner through the leader, then starts it
// in join mode, as an operator does.
func (g *group) addNode(id uint64) *groupNode {
	g.t.Helper()
	l := g.reserve(id)
	if err := g.leader().AddLearner(ctx5s(g.t), id, g.addrs[id]); err != nil {
		g.t.Fatalf("add learner %d: %v", id, err)
	}
	return g.start(id, l, g.peers(), true)
}

// waitVoter waits until every running node sees id as a voter and id has
// applied as many entries as the leader.
func (g *group) waitVoter(id uint64) {
	g.t.Helper()
	testwait.For(g.t, 15*time.Second, "the new member to be promoted everywhere", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, gn := range g.nodes {
			if !isVoter(gn.node, id) {
				return false
			}
		}
		return true
	})
	lead := g.leader()
	g.propose(1)
	want := lead.Status().Applied
	testwait.For(g.t, 10*time.Second, "the new member to apply the leader's log", func() bool {
		return g.get(id).node.Status().Applied >= want
	})
}

func TestAddLearnerCatchesUpAndIsPromoted(t *testing.T) {
	g := newGroup(t, 3, nil)
	g.propose(30)
	gn := g.addNode(4)
	g.waitVoter(4)
	lead := g.leader()
	if m, _ := member(lead, 4); m.Match == 0 || m.Address != g.addrs[4] {
		t.Errorf("leader's view of node 4 = %+v; want its address and a match index", m)
	}
	if got, want := gn.sm.count(), g.get(lead.ID()).sm.count(); got != want {
		t.Errorf("node 4 applied %d entries, the leader %d", got, want)
	}
	if gn.sm.restored {
		t.Error("node 4 was restored from a snapshot; the log was never compacted")
	}
	// The new voter counts in the quorum: with one of the old nodes down,
	// committing needs node 4.
	g.stop(g.follower().ID())
	g.propose(5)
}

func TestLearnerCatchesUpFromSnapshot(t *testing.T) {
	g := newGroup(t, 3, func(c *Config) { c.SnapshotEntries, c.CompactionLag = 20, 5 })
	g.propose(100)
	gn := g.addNode(4)
	g.waitVoter(4)
	if !gn.sm.restored {
		t.Error("node 4 caught up without a snapshot, though the log was compacted")
	}
	lead := g.leader()
	if got, want := gn.sm.count(), g.get(lead.ID()).sm.count(); got != want {
		t.Errorf("node 4 applied %d entries, the leader %d", got, want)
	}
	// The snapshot told node 4 every member's address: it knows them all.
	for _, m := range gn.node.Status().Members {
		if m.Address != g.addrs[m.ID] {
			t.Errorf("node 4 knows member %d at %q, want %q", m.ID, m.Address, g.addrs[m.ID])
		}
	}
}

func TestRemoveMember(t *testing.T) {
	g := newGroup(t, 3, nil)
	lead := g.leader()
	victim := g.follower().ID()
	if err := lead.Remove(ctx5s(t), victim); err != nil {
		t.Fatal(err)
	}
	if _, ok := member(lead, victim); ok {
		t.Fatalf("node %d is still a member: %+v", victim, lead.Status().Members)
	}
	g.stop(victim)
	g.propose(5) // two voters of two commit
	for _, err := range []error{
		lead.Remove(ctx5s(t), victim),
		lead.AddLearner(ctx5s(t), victim, g.addrs[victim]),
	} {
		if !errors.Is(err, ErrMemberRemoved) {
			t.Errorf("reuse of removed id %d: %v, want ErrMemberRemoved", victim, err)
		}
	}
}

func TestMembershipRefusals(t *testing.T) {
	g := newGroup(t, 2, nil)
	lead, fol := g.leader(), g.follower()
	ctx := ctx5s(t)
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"id 0", lead.AddLearner(ctx, 0, "127.0.0.1:1"), ErrBadMember},
		{"no port", lead.AddLearner(ctx, 7, "127.0.0.1"), ErrBadMember},
		{"port 0", lead.AddLearner(ctx, 7, "127.0.0.1:0"), ErrBadMember},
		{"no host", lead.AddLearner(ctx, 7, ":7400"), ErrBadMember},
		{"existing voter", lead.AddLearner(ctx, fol.ID(), "127.0.0.1:1"), ErrMemberExists},
		{"remove unknown", lead.Remove(ctx, 9), ErrNotMember},
		{"remove id 0", lead.Remove(ctx, 0), ErrBadMember},
		{"on a follower", fol.AddLearner(ctx, 7, "127.0.0.1:1"), ErrNotLeader},
		{"transfer to unknown", lead.TransferLeadership(ctx, 9), ErrNotMember},
		{"transfer on a follower", fol.TransferLeadership(ctx, lead.ID()), ErrNotLeader},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	// A learner is no transferee. Node 7 never starts, so it stays one.
	if err := lead.AddLearner(ctx, 7, "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if err := lead.AddLearner(ctx, 7, "127.0.0.1:1"); !errors.Is(err, ErrMemberExists) {
		t.Errorf("add learner twice: %v", err)
	}
	if err := lead.TransferLeadership(ctx, 7); !errors.Is(err, ErrNotVoter) {
		t.Errorf("transfer to a learner: %v", err)
	}
	// Removing down to one voter works; removing that one does not.
	if err := lead.Remove(ctx, fol.ID()); err != nil {
		t.Fatal(err)
	}
	if err := lead.Remove(ctx, lead.ID()); !errors.Is(err, ErrLastVoter) {
		t.Errorf("remove last voter: %v", err)
	}
}

func TestTransferLeadership(t *testing.T) {
	g := newGroup(t, 3, nil)
	lead := g.leader()
	to := g.follower()
	if err := lead.TransferLeadership(ctx5s(t), to.ID()); err != nil {
		t.Fatal(err)
	}
	if g.leader() != to {
		t.Fatalf("leader is %d, want %d", g.leader().ID(), to.ID())
	}
	if err := to.TransferLeadership(ctx5s(t), to.ID()); err != nil {
		t.Errorf("transfer to itself: %v", err)
	}
	g.propose(3)
}

// A transferee that does not take office within raft's own attempt (its
// first MsgTimeoutNow is lost, as on a busy machine its campaign comes too
// late) gets leadership all the same, within the caller's deadline.
func TestTransferLeadershipAfterALapsedAttempt(t *testing.T) {
	g := newGroup(t, 3, nil)
	lead := g.leader()
	to := g.follower()
	var dropped atomic.Bool
	to.SetFilter(func(m *raftpb.Message) bool {
		return m.GetType() != raftpb.MsgTimeoutNow || !dropped.CompareAndSwap(false, true)
	})
	if err := lead.TransferLeadership(ctx5s(t), to.ID()); err != nil {
		t.Fatalf("transfer after a lost MsgTimeoutNow: %v", err)
	}
	if !dropped.Load() {
		t.Fatal("no MsgTimeoutNow was dropped")
	}
	if g.leader() != to {
		t.Fatalf("leader is %d, want %d", g.leader().ID(), to.ID())
	}
	g.propose(3)
}

// A transfer to a voter that is down fails once raft's attempt lapses,
// well before the caller's deadline, and leaves the leader leading.
func TestTransferLeadershipToADeadNode(t *testing.T) {
	g := newGroup(t, 3, nil)
	lead := g.leader()
	to := g.follower()
	g.stop(to.ID())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	// Its progress may still look recent for up to two election timeouts.
	err := lead.TransferLeadership(ctx, to.ID())
	if !errors.Is(err, ErrTransferFailed) {
		t.Fatalf("transfer to a stopped node: %v, want ErrTransferFailed", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("transfer to a stopped node failed only after %v", d)
	}
	if g.leader() != lead {
		t.Errorf("leader is %d, want %d", g.leader().ID(), lead.ID())
	}
	g.propose(3)
}

// TestMembershipSurvivesRestartAfterCompaction changes the membership, lets
// the log be compacted past every ConfChange, and restarts the group with
// Peers that name each node alone: the addresses and the removed ids come
// back from the snapshot.
func TestMembershipSurvivesRestartAfterCompaction(t *testing.T) {
	g := newGroup(t, 3, func(c *Config) { c.SnapshotEntries, c.CompactionLag = 20, 5 })
	g.addNode(4)
	g.waitVoter(4)
	if err := g.leader().Remove(ctx5s(t), 2); err != nil {
		t.Fatal(err)
	}
	g.stop(2)
	g.propose(100)
	for _, id := range []uint64{1, 3, 4} {
		snaps, _ := filepath.Glob(filepath.Join(g.dirs[id], "snap", "*.snap"))
		if len(snaps) == 0 {
			t.Fatalf("node %d wrote no snapshot", id)
		}
	}
	g.stopAll()
	// Node 3 reaches node 4 by another name for the same address: its own
	// Peers entry wins over the replicated address.
	alias := strings.Replace(g.addrs[4], "127.0.0.1", "localhost", 1)
	for _, id := range []uint64{1, 3, 4} {
		peers := map[uint64]string{id: g.addrs[id]}
		if id == 3 {
			peers[4] = alias
		}
		g.start(id, nil, peers, false)
	}
	lead := g.leader()
	g.propose(3)
	for _, id := range []uint64{1, 3, 4} {
		n := g.get(id).node
		var ids []uint64
		for _, m := range n.Status().Members {
			ids = append(ids, m.ID)
			want := g.addrs[m.ID]
			if id == 3 && m.ID == 4 {
				want = alias
			}
			if m.Address != want || m.Learner {
				t.Errorf("node %d: member %+v, want voter at %s", id, m, want)
			}
		}
		if len(ids) != 3 {
			t.Errorf("node %d: members %v, want 1, 3, 4", id, ids)
		}
	}
	if err := lead.AddLearner(ctx5s(t), 2, g.addrs[2]); !errors.Is(err, ErrMemberRemoved) {
		t.Errorf("re-adding removed node 2 after restart: %v", err)
	}
}

// TestSnapshotWaitsForLogAsLargeAsState: with a state far larger than the
// entries, a snapshot is taken only once the entries applied since the last
// one add up to the state's size.
func TestSnapshotWaitsForLogAsLargeAsState(t *testing.T) {
	g := &group{t: t, pad: 32 << 10, addrs: map[uint64]string{}, dirs: map[uint64]string{}, nodes: map[uint64]*groupNode{}}
	g.tune = func(c *Config) { c.SnapshotEntries, c.CompactionLag = 10, 5 }
	t.Cleanup(g.stopAll)
	l := g.reserve(1)
	g.start(1, l, g.peers(), false)
	snapshots := func() int {
		snaps, _ := filepath.Glob(filepath.Join(g.dirs[1], "snap", "*.snap"))
		return len(snaps)
	}
	g.propose(100) // ~1 KiB of entries: only the first snapshot, taken at 10
	if n := snapshots(); n != 1 {
		t.Fatalf("%d snapshots after 100 small entries; want 1", n)
	}
	big := make([]byte, 4<<10)
	for i := 0; i < 10; i++ { // 40 KiB more than the 32 KiB state
		if _, err := g.leader().Propose(ctx5s(t), big); err != nil {
			t.Fatal(err)
		}
	}
	if n := snapshots(); n != 2 {
		t.Fatalf("%d snapshots after 40 KiB more; want 2", n)
	}
}
