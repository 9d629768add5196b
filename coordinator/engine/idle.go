package engine

import "time"

// releaseIdleParticipants runs until the node stops: a few times per idle
// timeout it releases the participant addresses gone idle. An address an
// active transaction names, or with phase-2 work queued, is not idle.
func (c *Engine) releaseIdleParticipants() {
	t := c.cfg.clock.NewTicker(max(c.cfg.idle/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-t.C():
		case <-c.ctx.Done():
			return
		}
		held := map[string]bool{}
		c.active.addresses(held)
		c.delivery.busy(held)
		c.parts.ReleaseIdle(held)
	}
}
