package engine

import (
	"context"
	"sync"
)

// confirmer shares leadership confirmations (Raft ReadIndex rounds) among
// concurrent callers: each caller joins the next round that has not started
// yet, and rounds run one after another, so that N one-phase commits
// waiting at once cost one heartbeat round, not N. A round that started
// before a caller arrived never answers it: what it confirmed may predate
// the caller's decision.
type confirmer struct {
	c *Engine

	mu      sync.Mutex
	next    *confirmRound // the round callers join; nil when none waits
	running bool          // the round goroutine is alive
}

type confirmRound struct {
	done chan struct{}
	term uint64 // the term confirmed; valid once done is closed and err is nil
	err  error
}

// confirm waits for a round that starts after the call and returns the
// term it confirmed (see Engine.confirmLeader).
func (f *confirmer) confirm(ctx context.Context) (uint64, error) {
	f.mu.Lock()
	r := f.next
	if r == nil {
		r = &confirmRound{done: make(chan struct{})}
		f.next = r
	}
	if !f.running {
		// Refused only while the engine stops: ctx, the engine's, ends.
		f.running = f.c.goroutine(f.run)
	}
	f.mu.Unlock()
	select {
	case <-r.done:
		return r.term, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run serves rounds until none waits.
func (f *confirmer) run() {
	for {
		f.mu.Lock()
		r := f.next
		f.next = nil
		if r == nil {
			f.running = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		ctx, cancel := context.WithTimeout(f.c.ctx, DecisionTimeout)
		r.term, r.err = f.c.confirmLeader(ctx)
		cancel()
		close(r.done)
	}
}
