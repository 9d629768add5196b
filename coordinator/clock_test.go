package coordinator

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
)

// The phase-2 retry backoff runs on the configured clock: with backoffs of
// up to an hour, a participant that failed a commit receives it again as
// soon as the clock is advanced past the backoff, with no real waiting.
func TestPhase2BackoffFollowsClock(t *testing.T) {
	clock := newFakeClock()
	c := newTunedCluster(t, 1, func(cfg *Config) {
		cfg.Clock = clock
		cfg.MaxRetryBackoff = time.Hour
	})
	c.leader().coord.delivery.baseRetry = time.Hour
	p1, p2, flaky, cl := c.withFailingP2()
	id, err := runTx(context.Background(), cl, p1, p2)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	waitState(t, id, participant.TxCommitted, p1)
	testwait.For(t, 10*time.Second, "p2's failed commit", func() bool {
		return failedAttempts(c.leader().coord.delivery, id) > 0
	})
	flaky.fail.Store(false)
	testwait.For(t, 10*time.Second, "p2 committed after the clock passed the backoff", func() bool {
		clock.Advance(time.Hour)
		return p2.res.State(id) == participant.TxCommitted
	})
}

// failedAttempts is the number of failed phase-2 deliveries of id.
func failedAttempts(d *delivery, id string) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.txs[id]; ok {
		return p.failed
	}
	return 0
}

// The DONE record of a transaction whose phase 2 completed is proposed by
// the flush the clock drives: it waits for the clock, however long real
// time runs, and follows as soon as the clock passes doneFlushEvery.
func TestDoneFlushFollowsClock(t *testing.T) {
	clock := newFakeClock()
	c := newTunedCluster(t, 1, func(cfg *Config) { cfg.Clock = clock })
	d := c.leader().coord.delivery
	p1, p2, cl := c.withParticipants()
	id, err := runTx(context.Background(), cl, p1, p2)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	testwait.For(t, 10*time.Second, "phase 2 completed", func() bool {
		_, ok := finishedPhase2(d, id)
		return ok
	})
	// Ten flush periods of real time: the flush does not run on its own.
	time.Sleep(10 * doneFlushEvery)
	if queued, _ := finishedPhase2(d, id); !queued {
		t.Fatalf("%s left the DONE queue with the clock standing still", id)
	}
	clock.Advance(doneFlushEvery)
	testwait.For(t, 10*time.Second, "DONE applied", func() bool {
		_, ok := finishedPhase2(d, id)
		return !ok
	})
}

// finishedPhase2 reports whether id's phase 2 completed and its DONE is
// not yet applied (kept), and whether it waits for the next flush (queued).
func finishedPhase2(d *delivery, id string) (queued, kept bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, kept = d.finished[id]
	return slices.Contains(d.done, id), kept
}
