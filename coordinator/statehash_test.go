package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// checkpointHashes appends a checkpoint at the leader and waits until
// every running node hashed its state there.
func checkpointHashes(t *testing.T, c *testCluster, what string) (uint64, map[uint64][32]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	index, err := c.leader().coord.Checkpoint(ctx)
	if err != nil {
		t.Fatalf("%s: checkpoint: %v", what, err)
	}
	hashes := map[uint64][32]byte{}
	testwait.For(t, 10*time.Second, fmt.Sprintf("%s: every node hashing checkpoint %d", what, index), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for id, s := range c.nodes {
			for _, h := range s.coord.StateHashes() {
				if h.Index == index {
					hashes[id] = h.SHA256
				}
			}
		}
		return len(hashes) == len(c.nodes)
	})
	return index, hashes
}

// checkAgree fails unless every node holds the same state at a new
// checkpoint.
func checkAgree(t *testing.T, c *testCluster, what string) {
	t.Helper()
	index, hashes := checkpointHashes(t, c, what)
	var first [32]byte
	for id, h := range hashes {
		if first == ([32]byte{}) {
			first = h
		} else if h != first {
			t.Fatalf("%s: node %d's state differs at checkpoint %d: %x", what, id, index, hashes)
		}
	}
}

// Three nodes under load agree at every checkpoint: after transactions,
// after snapshots and log compaction, after a follower's restart (from its
// own snapshot and log), a leader change, and a fourth node's joining.
func TestStateHashesAgree(t *testing.T) {
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = 20
		cfg.CompactionLag = 5
	})
	c.leader()
	p1, p2 := startParticipant(t, "p1", c.endpoints()), startParticipant(t, "p2", c.endpoints())
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()
	load := func(n int) {
		for range n {
			if _, err := runTx(ctx, cl, p1, p2); err != nil {
				t.Fatal(err)
			}
		}
	}
	load(10)
	checkAgree(t, c, "after 10 transactions")
	// Asked for its hash now, each node answers its state at the last
	// index it applied: equal wherever that index is.
	testwait.For(t, 10*time.Second, "equal current hashes at one applied index", func() bool {
		seen := map[uint64][]byte{}
		for _, id := range []uint64{1, 2, 3} {
			resp, err := adminClient(t, c.peers[id]).StateHashes(callCtx(t), &verdictv1.StateHashesRequest{Current: true})
			if err != nil {
				return false
			}
			cur := resp.GetCurrent()
			if prev, ok := seen[cur.GetIndex()]; ok && !bytes.Equal(prev, cur.GetSha256()) {
				t.Fatalf("two nodes differ at applied index %d", cur.GetIndex())
			}
			seen[cur.GetIndex()] = cur.GetSha256()
		}
		return len(seen) == 1 // all at the same index
	})
	load(60) // past several snapshots and compactions
	checkAgree(t, c, "after snapshots")
	// Checkpoints taken while transactions commit, from several
	// initiators at once, agree too.
	var wg sync.WaitGroup
	failed := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for range 15 {
				if _, err := runTx(ctx, cl, p1, p2); err != nil {
					failed <- err
					return
				}
			}
		})
	}
	for i := range 3 {
		checkAgree(t, c, fmt.Sprintf("under load, check %d", i+1))
	}
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Fatal(err)
	}
	f := c.follower()
	id := f.Node().ID()
	c.stop(id)
	load(10)
	latest := func() uint64 {
		hs := c.leader().coord.StateHashes()
		if len(hs) == 0 {
			return 0
		}
		return hs[len(hs)-1].Index
	}
	before := latest()
	c.start(id, nil)
	// The restarted node asks for a check as soon as it is ready.
	testwait.For(t, 15*time.Second, "a checkpoint after the restart", func() bool { return latest() > before })
	checkAgree(t, c, "after a follower's restart")
	lead := c.leader()
	to := c.follower()
	if _, err := adminClient(t, lead.Addr()).TransferLeadership(callCtx(t), &verdictv1.TransferLeadershipRequest{Id: to.Node().ID()}); err != nil {
		t.Fatal(err)
	}
	load(5)
	checkAgree(t, c, "after a leader change")
	// A membership change: node 4 joins (catching up by snapshot) and is
	// compared too.
	c.addNode(adminClient(t, c.leader().Addr()), 4)
	testwait.For(t, 20*time.Second, "node 4 a voter", func() bool {
		for _, m := range c.leader().Node().Status().Members {
			if m.ID == 4 && !m.Learner {
				return true
			}
		}
		return false
	})
	load(5)
	checkAgree(t, c, "after node 4 joined")
}

// skipOneDecision is a SkipApply knob for node id: once corrupt names
// id, the node skips the next entry holding a decision, and corrupt goes
// back to 0.
func skipOneDecision(corrupt *atomic.Uint64, id uint64) func(uint64, *logv1.LogBatch) bool {
	return func(_ uint64, b *logv1.LogBatch) bool {
		for _, r := range b.GetRecords() {
			if r.GetDecision() != nil && r.GetCheckpoint() == nil {
				return corrupt.CompareAndSwap(id, 0)
			}
		}
		return false
	}
}

// A node whose state went wrong behind the log's back (it skipped one
// entry holding a decision) differs from the others at the next
// checkpoint, and only it.
func TestStateHashFindsCorruption(t *testing.T) {
	// Once corrupt names a node, that node skips the next entry holding
	// a decision (a follower: a leader skipping its own COMMIT would
	// abort the transaction instead).
	var corrupt atomic.Uint64
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.knobs = &engine.TestingKnobs{SkipApply: skipOneDecision(&corrupt, cfg.ID)}
	})
	c.leader()
	p1, p2 := startParticipant(t, "p1", c.endpoints()), startParticipant(t, "p2", c.endpoints())
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()
	if _, err := runTx(ctx, cl, p1, p2); err != nil {
		t.Fatal(err)
	}
	checkAgree(t, c, "before")
	bad := c.follower().Node().ID()
	corrupt.Store(bad)
	if _, err := runTx(ctx, cl, p1, p2); err != nil { // its COMMIT is the entry the follower skips
		t.Fatal(err)
	}
	index, hashes := checkpointHashes(t, c, "after")
	for id, h := range hashes {
		for other, o := range hashes {
			if same := h == o; same != (id != bad && other != bad || id == other) {
				t.Fatalf("at checkpoint %d: %x; want node %d alone to differ", index, hashes, bad)
			}
		}
	}
}

// The leader checks on its own (--state-check-interval): a follower that
// went wrong is found, logged, counted once and marked, and a healthy
// cluster is not.
func TestLeaderStateCheck(t *testing.T) {
	var corrupt atomic.Uint64
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.StateCheckInterval = 100 * time.Millisecond
		cfg.knobs = &engine.TestingKnobs{SkipApply: skipOneDecision(&corrupt, cfg.ID)}
	})
	lead := c.leader()
	if differ := lead.checkStatesOnce(); len(differ) != 0 {
		t.Fatalf("a healthy cluster: members %v differ", differ)
	}
	p1, p2 := startParticipant(t, "p1", c.endpoints()), startParticipant(t, "p2", c.endpoints())
	cl := dial(t, c.endpoints()...)
	bad := c.follower().Node().ID()
	corrupt.Store(bad)
	if _, err := runTx(context.Background(), cl, p1, p2); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the periodic check finding, counting and marking the member", func() bool {
		_, marked := lead.coord.Diverged()[bad]
		return testutil.ToFloat64(lead.metrics.mismatches) == 1 && marked
	})
	// Found again, it is still named, but counted (and announced) once.
	if differ := lead.checkStatesOnce(); len(differ) != 1 || differ[0] != bad {
		t.Fatalf("members %v differ, want [%d]", differ, bad)
	}
	if n := testutil.ToFloat64(lead.metrics.mismatches); n != 1 {
		t.Errorf("verdict_state_mismatches_total = %v, want 1", n)
	}
}

// A member the leader's check finds diverged is marked in the log: it
// follows, but does not lead (handed leadership, it hands it on), and the
// cluster goes on committing; an operator clears the mark.
func TestDivergedMemberDoesNotLead(t *testing.T) {
	var corrupt atomic.Uint64
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.StateCheckInterval = time.Hour // the test runs the check itself
		cfg.knobs = &engine.TestingKnobs{SkipApply: skipOneDecision(&corrupt, cfg.ID)}
	})
	lead := c.leader()
	p1, p2 := startParticipant(t, "p1", c.endpoints()), startParticipant(t, "p2", c.endpoints())
	cl := dial(t, c.endpoints()...)
	ctx := context.Background()
	badNode := c.follower()
	bad := badNode.Node().ID()
	corrupt.Store(bad)
	if _, err := runTx(ctx, cl, p1, p2); err != nil {
		t.Fatal(err)
	}
	if differ := lead.checkStatesOnce(); len(differ) != 1 || differ[0] != bad {
		t.Fatalf("members %v differ, want [%d]", differ, bad)
	}
	var since uint64
	testwait.For(t, 15*time.Second, "the member marked diverged", func() bool {
		st, err := adminClient(t, lead.Addr()).Status(callCtx(t), &verdictv1.StatusRequest{})
		if err != nil || len(st.GetDiverged()) != 1 || st.GetDiverged()[0].GetId() != bad {
			return false
		}
		since = st.GetDiverged()[0].GetSinceIndex()
		return true
	})
	testwait.For(t, 10*time.Second, "the marked member to know its mark", func() bool {
		_, marked := badNode.coord.Diverged()[bad]
		return marked
	})

	// Handed leadership, it hands it on, and never serves as leader.
	if _, err := adminClient(t, lead.Addr()).TransferLeadership(callCtx(t), &verdictv1.TransferLeadershipRequest{Id: bad}); err != nil {
		t.Logf("transfer to the marked member: %v", err) // it may hand it on before the call sees it
	}
	testwait.For(t, 20*time.Second, "a ready leader other than the marked member", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for id, s := range c.nodes {
			if _, ok := s.coord.LeaderTerm(); ok && id != bad {
				return true
			}
		}
		return false
	})
	if _, ok := badNode.coord.LeaderTerm(); ok {
		t.Fatal("the marked member serves as the ready leader")
	}
	if _, err := runTx(ctx, cl, p1, p2); err != nil {
		t.Fatalf("a commit with a member marked: %v", err)
	}

	// An operator clears the mark.
	if _, err := adminClient(t, c.leader().Addr()).ClearDivergence(callCtx(t), &verdictv1.ClearDivergenceRequest{Id: bad, Operator: "test"}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the mark cleared everywhere", func() bool {
		_, marked := badNode.coord.Diverged()[bad]
		return !marked
	})
	var ready *Server
	testwait.For(t, 10*time.Second, "a ready leader", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.nodes {
			if _, ok := s.coord.LeaderTerm(); ok {
				ready = s
				return true
			}
		}
		return false
	})
	testwait.For(t, 10*time.Second, "the ready leader to have applied the clearing", func() bool {
		_, marked := ready.coord.Diverged()[bad]
		return !marked
	})
	if err := ready.coord.ClearDiverged(ctx, bad, "test"); !errors.Is(err, engine.ErrNotActive) {
		t.Errorf("clearing a member that is not marked: %v, want ErrNotActive", err)
	}
	// A check that was under way when the mark was cleared marks nothing.
	if err := ready.coord.MarkDiverged(ctx, bad, since); !errors.Is(err, engine.ErrNotActive) {
		t.Errorf("a mark from a check older than the clearing: %v, want ErrNotActive", err)
	}
	if _, marked := ready.coord.Diverged()[bad]; marked {
		t.Error("a check older than the clearing marked the member again")
	}
}

// A leader marked diverged serves no transactions and drives no phase 2
// from its table, yet stays the way out: with no member to hand
// leadership to, an operator clears its mark through it
// (Admin.ClearDivergence, served by the Raft leader even while marked).
// It retired the term it was marked in, so it serves again from the
// next: once restarted, it finishes the phase 2 it left.
func TestMarkedLeaderClearsItsOwnMark(t *testing.T) {
	c := newTunedCluster(t, 1, func(cfg *Config) {
		cfg.knobs = &engine.TestingKnobs{FirstRetry: 20 * time.Millisecond}
		cfg.MaxRetryBackoff = 50 * time.Millisecond
	})
	lead := c.leader()
	p1, p2, flaky, cl := c.withFailingP2()
	ctx := context.Background()
	undone, err := runTx(ctx, cl, p1, p2) // committed, p2's phase 2 failing
	if err != nil {
		t.Fatal(err)
	}
	index, _ := checkpointHashes(t, c, "before the mark")
	if err := lead.coord.MarkDiverged(ctx, lead.Node().ID(), index); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the marked leader to stop serving", func() bool {
		_, ok := lead.coord.LeaderTerm()
		return !ok
	})
	bctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := runTx(bctx, cl, p1); err == nil {
		t.Fatal("a marked leader served a transaction")
	}
	// p2 is back, but the marked leader delivers nothing: for a second,
	// twenty times its retry backoff, p2 stays prepared.
	flaky.fail.Store(false)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st := p2.res.State(undone); st != participant.TxPrepared {
			t.Fatalf("a marked leader drove phase 2: %s is %v at p2", undone, st)
		}
	}
	// Nor does it let a new member copy its state.
	_, err = adminClient(t, lead.Addr()).AddMember(callCtx(t), &verdictv1.AddMemberRequest{Id: 9, Address: "127.0.0.1:1"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a member added through a marked leader: %v, want FailedPrecondition", err)
	}
	if _, err := adminClient(t, lead.Addr()).ClearDivergence(callCtx(t), &verdictv1.ClearDivergenceRequest{Id: lead.Node().ID(), Operator: "test"}); err != nil {
		t.Fatalf("clear the leader's own mark: %v", err)
	}
	testwait.For(t, 10*time.Second, "the mark cleared", func() bool {
		_, marked := lead.coord.Diverged()[lead.Node().ID()]
		return !marked
	})
	if _, ok := lead.coord.LeaderTerm(); ok || !lead.coord.Retired() {
		t.Fatal("ready again in the term it was marked in")
	}
	c.stop(lead.Node().ID())
	c.start(lead.Node().ID(), nil)
	c.leader()
	waitState(t, undone, participant.TxCommitted, p2)
	if _, err := runTx(ctx, cl, p1); err != nil {
		t.Fatalf("a commit once the mark is cleared: %v", err)
	}
}
