package engine

import (
	"sync/atomic"
	"time"
)

// The leader stamps DONE records and computes Prune horizons with the log's
// clock, not its own: retention is measured on the times already in the
// log, and a node whose clock runs far ahead cannot prune at once what the
// log says is recent (nor make a txid it did not prune "expired").
//
// At takeover the log's clock starts at the newest time the log vouches
// for (State.LogTime), or at the node's clock for a log that holds none.
// From there it follows the node's clock but never runs ahead of that
// start plus logClockJump plus the time elapsed since (on the monotonic
// clock, which no clock setting moves), plus a quarter of that time so that
// it catches up with a right clock after a long outage of the whole
// cluster. A leader whose clock is right therefore uses it as it is; one
// whose clock runs ahead, or jumps ahead while it leads, prunes a
// transaction done just before no sooner than (retention - jump) / 1.25 =
// 60% of the retention later; one whose clock is behind prunes later,
// which is safe.

// logClockJump is how far past the log's time a new leader's clock may be
// taken as it is: the gap of a failover (a Prune record is proposed at
// least every pruneEvery), a quarter of the retention.
func logClockJump(retention time.Duration) time.Duration { return retention / 4 }

// logClock is the log's clock of one term of leadership.
type logClock struct {
	// anchor is the log's time when this node took office.
	anchor time.Time
	// since is when this node took office, with its monotonic reading.
	since time.Time
	jump  time.Duration
}

// at is the log's time when the node's clock reads wall and time.Now reads
// mono.
func (l logClock) at(wall, mono time.Time) time.Time {
	elapsed := max(mono.Sub(l.since), 0)
	if bound := l.anchor.Add(l.jump + elapsed + elapsed/4); wall.After(bound) {
		return bound
	}
	return wall
}

// logClockRef holds the log's clock of the current term; nil before the
// first takeover, which reads as the node's clock.
type logClockRef struct {
	p atomic.Pointer[logClock]
	// mono reads the monotonic clock: time.Now, unless a test drives it
	// (TestingKnobs.Monotonic).
	mono func() time.Time
}

func (r *logClockRef) monoNow() time.Time {
	if r.mono != nil {
		return r.mono()
	}
	return time.Now()
}

// start makes the log's clock start at the log's time logMs (Unix ms; 0 for
// none: the node's clock, wall, is taken as it is) now, and returns how far
// the node's clock is ahead of it beyond the jump.
func (r *logClockRef) start(logMs int64, wall time.Time, retention time.Duration) time.Duration {
	l := &logClock{anchor: wall, since: r.monoNow(), jump: logClockJump(retention)}
	if logMs != 0 {
		l.anchor = time.UnixMilli(logMs)
	}
	r.p.Store(l)
	return wall.Sub(l.at(wall, l.since))
}

// now is the log's time when the node's clock reads wall.
func (r *logClockRef) now(wall time.Time) time.Time {
	l := r.p.Load()
	if l == nil {
		return wall
	}
	return l.at(wall, r.monoNow())
}
