package coordinator

// The engine's lifecycle: one context and one WaitGroup. Every goroutine the
// engine starts (the leadership watcher, the sweep, the proposer, the DONE
// flush, the phase-2 senders, the prepare batchers, the idle-participant
// release, confirmation rounds, decisions and the event publisher) is
// counted in wg and ends once ctx is cancelled. stop cancels ctx and waits
// for every one of them.

// goroutine runs f on a goroutine the engine owns; it reports false, and
// does not run f, once the engine is stopping.
func (c *Coordinator) goroutine(f func()) bool {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.stopping {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// start starts the engine's long-running goroutines.
func (c *Coordinator) start() {
	c.goroutine(c.prop.run)
	c.goroutine(c.watchLeadership)
	c.goroutine(c.sweep)
	c.goroutine(c.delivery.flushDone)
	c.goroutine(c.releaseIdleParticipants)
	if c.nats != nil {
		c.goroutine(func() { c.nats.events.run(c.ctx) })
	}
}

// beginStop cancels the engine's work and refuses new goroutines; a call
// waiting on the engine (a Commit waiting for its decision) returns. The
// calls in progress may still use the engine until they return.
func (c *Coordinator) beginStop() {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	c.stopping = true
	c.cancel()
}

// stop stops the engine: it cancels its work, waits for every goroutine
// it started, then closes its participant connections and its NATS
// connection. The Raft node is not the engine's: it is stopped after.
// Calls into the engine must have returned (the gRPC server stopped)
// before stop is called.
func (c *Coordinator) stop() {
	c.beginStop()
	c.wg.Wait()
	c.parts.close()
	c.nats.close()
}
