package coordinator

import (
	"context"
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
