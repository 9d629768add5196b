package engine

import (
	"log/slog"
	"os"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Fixed UUIDv7 txids, in sorting order.
const (
	tx1 = "01936b2a-0000-7000-8000-000000000001"
	tx2 = "01936b2a-0000-7000-8000-000000000002"
)

const committed = verdictv1.Outcome_OUTCOME_COMMITTED

// testLogger discards, unless VERDICT_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("VERDICT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
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
