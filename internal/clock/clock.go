// Package clock is the time as Verdict's engine sees it: a Clock tells the
// time and makes the timers and tickers of the engine, so that one value
// drives them all. System is the system's clock; Fake is a clock that
// stands still until a test advances it, firing the timers it passes.
package clock

import "time"

// Clock tells the time and drives every timer of the engine: deadlines,
// phase-2 backoffs, the DONE flush, the recovery sweep (deadline aborts,
// re-drives, pruning), the idle release of participant connections and of
// phase-2 senders. Tests replace it with a clock they advance by hand.
// Timeouts of network calls stay on the system clock: they bound I/O.
type Clock interface {
	Now() time.Time
	// NewTimer returns a Timer that fires once, d from now.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a Ticker that fires every d (d > 0).
	NewTicker(d time.Duration) Ticker
}

// Timer is a time.Timer of a Clock.
type Timer interface {
	C() <-chan time.Time
	// Stop and Reset are those of time.Timer (since Go 1.23: no stale
	// value is received after either returns).
	Stop() bool
	Reset(d time.Duration) bool
}

// Ticker is a time.Ticker of a Clock.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// System is the clock of the system.
func System() Clock { return realClock{} }

// realClock is the system clock.

type realClock struct{}

func (realClock) Now() time.Time                   { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer   { return realTimer{time.NewTimer(d)} }
func (realClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.Timer.C }

type realTicker struct{ *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.Ticker.C }
