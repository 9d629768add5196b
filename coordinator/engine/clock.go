package engine

import "github.com/verdict-tx/verdict/internal/clock"

// Clock tells the time and drives every timer of the engine: deadlines,
// phase-2 backoffs, the DONE flush, the recovery sweep (deadline aborts,
// re-drives, pruning), the idle release of participant connections and of
// phase-2 senders. Tests replace it with a clock they advance by hand
// (clock.Fake). Timeouts of network calls stay on the system clock: they
// bound I/O.
type Clock = clock.Clock

// Timer and Ticker are the timers of a Clock.
type (
	Timer  = clock.Timer
	Ticker = clock.Ticker
)

// SystemClock is the clock of the system.
func SystemClock() Clock { return clock.System() }
