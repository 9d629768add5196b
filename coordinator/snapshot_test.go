package coordinator

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
)

// TestClusterFollowerCatchesUpFromSnapshot stops a follower, runs enough
// transactions that the others snapshot and compact their logs past it, and
// restarts it: it must catch up from a snapshot and know every decision.
func TestClusterFollowerCatchesUpFromSnapshot(t *testing.T) {
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = 20
		cfg.CompactionLag = 5
	})
	lead := c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()

	lagging := c.follower().Node().ID()
	c.stop(lagging)
	var ids []string
	for i := 0; i < 150; i++ {
		id, err := runTx(ctx, cl, p1, p2)
		if err != nil {
			t.Fatalf("tx %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	snaps, _ := filepath.Glob(filepath.Join(c.dirs[lead.Node().ID()], "snap", "*.snap"))
	if len(snaps) == 0 {
		entries, _ := os.ReadDir(c.dirs[lead.Node().ID()])
		t.Fatalf("leader wrote no snapshot (data dir holds %v)", entries)
	}

	c.start(lagging, nil)
	c.mu.Lock()
	back := c.nodes[lagging]
	c.mu.Unlock()
	last := ids[len(ids)-1]
	testwait.For(t, 10*time.Second, "the restarted follower to learn the last decision", func() bool {
		_, ok := back.coord.Applied(last)
		return ok
	})
	for _, id := range ids {
		tx, ok := back.coord.Applied(id)
		if !ok || engine.OutcomeOf(tx.GetState()).String() != "OUTCOME_COMMITTED" {
			t.Fatalf("restarted follower: %s = %v, %v; want committed", id, tx, ok)
		}
	}
	for _, id := range ids {
		waitState(t, id, participant.TxCommitted, p1, p2)
	}
}
