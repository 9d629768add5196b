package coordinator

import "time"

// Clock tells the time. Deadlines are driven by it, so tests can replace it.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
