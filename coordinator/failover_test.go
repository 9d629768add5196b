package coordinator

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// TestClusterLeaderChange stops the leader under load. Every transaction a
// client was told COMMITTED must be committed at every participant, and new
// transactions commit under the new leader.
func TestClusterLeaderChange(t *testing.T) {
	c := newCluster(t, 3)
	old := c.leader()
	p1, p2, cl := c.withParticipants()

	var (
		mu        sync.Mutex
		committed []string
		stopLoad  atomic.Bool
		wg        sync.WaitGroup
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000 && !stopLoad.Load(); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				id, err := runTx(ctx, cl, p1, p2)
				cancel()
				if err == nil {
					mu.Lock()
					committed = append(committed, id)
					mu.Unlock()
				}
			}
		}()
	}
	countCommitted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(committed)
	}
	testwait.For(t, 10*time.Second, "commits before the leader stops", func() bool { return countCommitted() >= 50 })

	c.stop(old.Node().ID())
	before := countCommitted()
	newLead := c.leader()
	if newLead == old {
		t.Fatal("the stopped node is still the leader")
	}
	testwait.For(t, 10*time.Second, "commits under the new leader", func() bool { return countCommitted() >= before+50 })
	stopLoad.Store(true)
	wg.Wait()

	mu.Lock()
	ids := append([]string(nil), committed...)
	mu.Unlock()
	for _, id := range ids {
		waitState(t, id, participant.TxCommitted, p1, p2)
	}
	noViolations(t, p1, p2)
	t.Logf("%d transactions committed across the leader change", len(ids))
}

// TestClusterRestartAnswersOutcome restarts every node from its data dir:
// each answers Outcome for every decided transaction exactly as before.
func TestClusterRestartAnswersOutcome(t *testing.T) {
	c := newCluster(t, 3)
	c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()

	var voteNo atomic.Bool
	p2.res.SetVote(func(context.Context, string) (participant.Vote, error) {
		if voteNo.Load() {
			return participant.VoteNo, nil
		}
		return participant.VoteYes, nil
	})
	want := map[string]verdictv1.Outcome{}
	for i := 0; i < 40; i++ {
		voteNo.Store(i%4 == 3)
		id, err := runTx(ctx, cl, p1, p2)
		switch {
		case err == nil:
			want[id] = verdictv1.Outcome_OUTCOME_COMMITTED
		case errors.Is(err, client.ErrAborted):
			want[id] = verdictv1.Outcome_OUTCOME_ABORTED
		default:
			t.Fatalf("tx %d: %v", i, err)
		}
	}
	before := outcomes(t, c, want)
	for id := range c.peers {
		c.stop(id)
	}
	for id := range c.peers {
		c.start(id, nil)
	}
	c.leader()
	after := outcomes(t, c, want)
	for id, o := range before {
		if after[id] != o || o != want[id] {
			t.Errorf("%s: outcome before restart %v, after %v, told the client %v", id, o, after[id], want[id])
		}
	}
}

func outcomes(t *testing.T, c *testCluster, ids map[string]verdictv1.Outcome) map[string]verdictv1.Outcome {
	t.Helper()
	raw := coordClient(t, c.leader().Addr())
	out := map[string]verdictv1.Outcome{}
	for id := range ids {
		resp, err := raw.Outcome(context.Background(), &verdictv1.OutcomeRequest{Txid: id})
		if err != nil {
			t.Fatalf("Outcome(%s): %v", id, err)
		}
		out[id] = resp.GetOutcome()
	}
	return out
}
