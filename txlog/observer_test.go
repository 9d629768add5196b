package txlog

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/internal/testwait"
)

// countingObserver counts what a group's nodes report.
type countingObserver struct {
	syncs, snapshots atomic.Uint64
}

func (o *countingObserver) WALSynced(time.Duration) { o.syncs.Add(1) }
func (o *countingObserver) SnapshotSaved(int)       { o.snapshots.Add(1) }

func TestObserverAndCounters(t *testing.T) {
	obs := &countingObserver{}
	g := newGroup(t, 3, func(c *Config) {
		c.Observer = obs
		c.SnapshotEntries, c.CompactionLag = 20, 5
	})
	g.propose(30)
	if n := obs.syncs.Load(); n == 0 {
		t.Error("no WAL fsync observed")
	}
	testwait.For(t, 5*time.Second, "a snapshot observed", func() bool { return obs.snapshots.Load() > 0 })
	c := g.leader().Counters()
	if c.Proposals < 30 {
		t.Errorf("leader counted %d proposals, want at least 30", c.Proposals)
	}
	if c.LeaderChanges < 1 {
		t.Errorf("leader counted %d leader changes, want at least 1", c.LeaderChanges)
	}
}

func TestWaitCaughtUp(t *testing.T) {
	g := newGroup(t, 3, nil)
	lead := g.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lead.WaitCaughtUp(ctx); err != nil {
		t.Fatalf("leader: %v", err)
	}

	id := g.follower().ID()
	g.stop(id)
	g.propose(50)
	committed := lead.Status().Commit
	gn := g.start(id, nil, g.peers(), false)
	if err := gn.node.WaitCaughtUp(ctx); err != nil {
		t.Fatalf("restarted follower: %v", err)
	}
	if applied := gn.node.Status().Applied; applied < committed {
		t.Errorf("caught up at applied index %d, below the commit index %d before the restart", applied, committed)
	}
	if got := gn.sm.count(); got < 50 {
		t.Errorf("restarted follower's state machine holds %d entries, want at least 50", got)
	}
}

func TestWaitCaughtUpWithoutLeader(t *testing.T) {
	g := newGroup(t, 3, nil)
	id := g.follower().ID()
	for other := uint64(1); other <= 3; other++ {
		if other != id {
			g.stop(other)
		}
	}
	// Alone, the node never learns a leader: it must not call itself caught
	// up.
	gn := g.get(id)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := gn.node.WaitCaughtUp(ctx); err == nil {
		t.Fatal("a node cut off from its group reported itself caught up")
	}
}
