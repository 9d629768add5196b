package engine

import (
	"context"
	"time"

	"github.com/verdict-tx/verdict/coordinator/table"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
)

// sweepEvery is how often the leader looks for transactions past their
// deadline; rescanEvery how often it re-drives undone decisions from the log.
const (
	sweepEvery  = 50 * time.Millisecond
	rescanEvery = 10 * time.Second
)

// recover re-drives phase 2 of every COMMIT or ABORT record without DONE,
// at the participants that no operator has resolved heuristically.
func (c *Engine) recover() {
	for _, tx := range c.fsm.undone() {
		o := OutcomeOf(tx.GetState())
		c.delivery.deliver(tx.GetTxid(), o, phase2Targets(o, table.Unresolved(tx), tx.GetStagedCount() > 0))
	}
}

// pruneEvery is how often the leader proposes a Prune record: a tenth of
// the retention window, between 100ms and 30s.
func pruneEvery(retention time.Duration) time.Duration {
	return min(max(retention/10, 100*time.Millisecond), 30*time.Second)
}

// sweep runs until stop: it aborts active transactions whose deadline has
// passed, periodically re-drives undone decisions, and ends the retention of
// done transactions older than the window by the log's time.
func (c *Engine) sweep() {
	clock := c.cfg.clock
	tick := clock.NewTicker(sweepEvery)
	defer tick.Stop()
	lastScan, lastPrune, lastTombs := clock.Now(), clock.Now(), clock.Now()
	for {
		select {
		case <-tick.C():
		case <-c.ctx.Done():
			return
		}
		if _, ok := c.leaderTerm(); !ok {
			continue
		}
		now := clock.Now()
		// The recent outcomes of stamped transactions are kept at least
		// as long as a stamp could still register their txid (stamped.go).
		for _, t := range c.active.expired(now, c.cfg.retention, max(c.cfg.retention, c.stampMemory())) {
			c.abort(t, AbortDeadline, "deadline passed")
		}
		if now.Sub(lastTombs) >= time.Second {
			lastTombs = now
			c.active.expireTombs()
		}
		if now.Sub(lastScan) > rescanEvery {
			lastScan = now
			c.recover()
		}
		if now.Sub(lastPrune) > pruneEvery(c.cfg.retention) {
			lastPrune = now
			c.proposePrune(c.logNow().Add(-c.pruneKeep(c.stampNow())))
		}
	}
}

// proposePrune proposes a Prune record; it is waited for by no one.
func (c *Engine) proposePrune(before time.Time) {
	rec := &logv1.LogRecord{Kind: &logv1.LogRecord_Prune{Prune: &logv1.Prune{BeforeUnixMs: before.UnixMilli()}}}
	if _, err := c.prop.submit(context.Background(), rec, false); err != nil {
		c.cfg.log.Debug("prune record not proposed", "err", err)
	}
}
