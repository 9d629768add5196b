package coordinator

import "time"

// sweepEvery is how often the leader looks for transactions past their
// deadline; rescanEvery how often it re-drives undone decisions from the log.
const (
	sweepEvery  = 50 * time.Millisecond
	rescanEvery = 10 * time.Second
)

// recover re-drives phase 2 of every COMMIT or ABORT record without DONE.
func (c *Coordinator) recover() {
	for _, tx := range c.fsm.undone() {
		c.delivery.deliver(tx.GetTxid(), outcomeOf(tx.GetState()), tx.GetParticipants())
	}
}

// sweep runs until stop: it aborts active transactions whose deadline has
// passed and periodically re-drives undone decisions.
func (c *Coordinator) sweep() {
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	lastScan := time.Now()
	for {
		select {
		case <-tick.C:
		case <-c.stop:
			return
		}
		if _, ok := c.leaderTerm(); !ok {
			continue
		}
		for _, t := range c.active.expired(c.cfg.clock.Now(), recentKeep) {
			c.abort(t, "deadline passed")
		}
		if time.Since(lastScan) > rescanEvery {
			lastScan = time.Now()
			c.recover()
		}
	}
}
