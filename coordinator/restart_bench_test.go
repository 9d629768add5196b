package coordinator

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// undoneTransactions is the size of the state BenchmarkRestartUndone
// restarts with.
const undoneTransactions = 100_000

// BenchmarkRestartUndone measures how long a 3-node cluster whose state holds
// 100,000 undone decisions (their participant is down, so phase 2 can never
// complete) takes from the restart of every node to the first transaction
// committed afterwards: WAL and snapshot replay, election, the leader's
// barrier, and the re-drive of every undone decision. Its restart-ms metric
// is the figure BENCHMARKS.md records.
func BenchmarkRestartUndone(b *testing.B) {
	c := newTunedCluster(b, 3, func(cfg *Config) {
		cfg.TickInterval = 0 // production defaults: 50ms ticks
		cfg.ElectionTicks = 0
	})
	lead := c.leader()
	fillUndone(b, lead, undoneTransactions)
	p1, p2, cl := c.withParticipants()
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		c.stopAll()
		start := time.Now()
		for id := range c.peers {
			c.start(id, nil)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for {
			_, err := runTx(ctx, cl, p1, p2)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				b.Fatalf("no commit 30s after the restart: %v", err)
			}
		}
		cancel()
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "restart-ms")
	if n := c.leader().coord.UndoneCount(); n < undoneTransactions {
		b.Fatalf("state holds %d undone decisions after the restart, want %d", n, undoneTransactions)
	}
}

// fillUndone logs n COMMIT decisions whose only participant never answers,
// proposed straight through the leader's proposer (the benchmark measures
// the restart, not how the state was built).
func fillUndone(b *testing.B, lead *Server, n int) {
	b.Helper()
	dead := []*verdictv1.ParticipantRef{{Name: "down", Address: "127.0.0.1:1"}}
	term, _ := lead.Node().LeaderTerm()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				id, _ := txid.New()
				rec := engine.TestingDecision(id, verdictv1.Outcome_OUTCOME_COMMITTED, dead, "", time.Now(), time.Now().Add(time.Minute))
				rec.GetDecision().Term = term
				if err := lead.coord.TestingPropose(context.Background(), rec, true); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("fill: %v", err)
	}
	if got := lead.coord.UndoneCount(); got < n {
		b.Fatalf("%d undone decisions, want %d", got, n)
	}
}
