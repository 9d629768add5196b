package coordinator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// TestFollowerCatchesUpFromLargeSnapshot: a snapshot larger than the largest
// request a client may send (4 MiB) still reaches a follower that fell
// behind compaction: the transport sends it in chunks.
func TestFollowerCatchesUpFromLargeSnapshot(t *testing.T) {
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = 20
		cfg.CompactionLag = 5
		cfg.ElectionTicks = 50 // a busy machine delays heartbeats
	})
	lead := c.leader()
	lagging := c.follower().Node().ID()
	c.stop(lagging)
	ctx := context.Background()
	reason := strings.Repeat("r", 1000)
	var last string
	for i := 0; i < 6000; i++ {
		id, _ := txid.New()
		last = id
		parts := []*verdictv1.ParticipantRef{{Name: "p1", Address: "127.0.0.1:1"}}
		rec := engine.TestingDecision(id, verdictv1.Outcome_OUTCOME_ABORTED, parts, reason, time.Now(), time.Now())
		// A leader change on a busy machine loses a waited proposal's
		// outcome: propose it again at the leader of the moment.
		for attempt := 0; ; attempt++ {
			err := lead.coord.TestingPropose(ctx, rec, i%200 == 199)
			if err == nil {
				break
			}
			if attempt == 5 {
				t.Fatal(err)
			}
			lead = c.leader()
		}
	}
	snap, _ := lead.coord.StateMachine().Snapshot()
	if len(snap) <= 4<<20 {
		t.Fatalf("state snapshot is %d bytes; the test needs more than 4 MiB", len(snap))
	}
	c.start(lagging, nil)
	c.mu.Lock()
	back := c.nodes[lagging]
	c.mu.Unlock()
	testwait.For(t, 20*time.Second, "the follower to catch up from the large snapshot", func() bool {
		_, ok := back.coord.Applied(last)
		return ok
	})
}
