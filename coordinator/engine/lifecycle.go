package engine

// The engine's lifecycle: one context and one WaitGroup. Every goroutine the
// engine starts (the leadership watcher, the sweep, the proposer, the DONE
// flush, the phase-2 senders, the idle-participant release, confirmation
// rounds, and the decisions of Commits, see enter) is counted in wg and ends
// once ctx is cancelled. Stop cancels ctx and waits for every one of them.
// What the engine uses (the log, the participants, the publisher) owns its
// own goroutines.

// goroutine runs f on a goroutine the engine owns; it reports false, and
// does not run f, once the engine is stopping.
func (c *Engine) goroutine(f func()) bool {
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

// Start starts the engine over its log: the log applies its entries to
// StateMachine and calls OnLeadership. Start is called once.
func (c *Engine) Start(log Log) {
	c.log = log
	c.prop = newProposer(c.ctx, log, c.cfg.log)
	c.fsm.observe(c.applied) // after c.log is set: applied reads it
	c.goroutine(c.prop.run)
	c.goroutine(c.watchLeadership)
	c.goroutine(c.sweep)
	c.goroutine(c.delivery.flushDone)
	c.goroutine(c.releaseIdleParticipants)
}

// BeginStop cancels the engine's work and refuses new goroutines; a call
// waiting on the engine (a Commit waiting for its decision) returns. The
// calls in progress may still use the engine until they return.
func (c *Engine) BeginStop() {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	c.stopping = true
	c.cancel()
}

// Stop stops the engine: it cancels its work and waits for every
// goroutine it started. What the engine uses (its log, participants and
// publisher) is not the engine's: the node stops it after. Calls into the
// engine must have returned (the gRPC server stopped) before Stop is
// called: the engine's work is cancelled, and a Commit that reaches it
// after BeginStop is aborted (nothing was prepared or logged for it).
func (c *Engine) Stop() {
	c.BeginStop()
	c.wg.Wait()
}

// enter counts work done on a caller's goroutine (a Commit's decision) as
// the engine's, so that Stop waits for it; false once the engine stops.
// leave ends it.
func (c *Engine) enter() bool {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.stopping {
		return false
	}
	c.wg.Add(1)
	return true
}

func (c *Engine) leave() { c.wg.Done() }
