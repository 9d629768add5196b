package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a Clock that stands still until a test advances it: its
// timers and tickers fire, in the order of their times, only when Advance
// passes them.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeWaiter
}

// fakeWaiter is one timer (period 0) or ticker of a Fake.
type fakeWaiter struct {
	clock  *Fake
	ch     chan time.Time
	when   time.Time
	period time.Duration
	active bool
}

// NewFake starts at the system clock's time (participants check
// deadlines against theirs), and stays there until advanced.
func NewFake() *Fake {
	return &Fake{now: time.Now().Round(0)}
}

func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Fake) NewTimer(d time.Duration) Timer { return c.add(d, 0) }

func (c *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("Fake: non-positive ticker interval")
	}
	return fakeTicker{c.add(d, d)}
}

// fakeTicker is a ticker of a Fake.
type fakeTicker struct{ *fakeWaiter }

func (t fakeTicker) Stop() { t.fakeWaiter.Stop() }

func (c *Fake) add(d, period time.Duration) *fakeWaiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &fakeWaiter{clock: c, ch: make(chan time.Time, 1), when: c.now.Add(d), period: period, active: true}
	c.waiters = append(c.waiters, w)
	return w
}

// Advance moves the clock on by d, firing the timers and tickers due on
// the way. Like time.Ticker, a ticker behind by several periods delivers
// one tick.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	target := c.now.Add(d)
	for {
		sort.SliceStable(c.waiters, func(i, j int) bool { return c.waiters[i].when.Before(c.waiters[j].when) })
		if len(c.waiters) == 0 || c.waiters[0].when.After(target) {
			break
		}
		w := c.waiters[0]
		c.now = w.when
		select {
		case w.ch <- w.when:
		default:
		}
		if w.period == 0 {
			w.active = false
			c.waiters = c.waiters[1:]
			continue
		}
		for !w.when.After(target) {
			w.when = w.when.Add(w.period)
		}
	}
	c.now = target
}

// Pending is the number of timers and tickers not yet fired or stopped.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// Tickers is the number of tickers not stopped.
func (c *Fake) Tickers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, w := range c.waiters {
		if w.period > 0 {
			n++
		}
	}
	return n
}

func (w *fakeWaiter) C() <-chan time.Time { return w.ch }

// Stop stops w; like time.Timer.Stop (since Go 1.23) it drains the channel.
func (w *fakeWaiter) Stop() bool {
	c := w.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	was := w.active
	w.remove()
	select {
	case <-w.ch:
	default:
	}
	return was
}

// Reset makes w fire d from now; it reports whether w was active.
func (w *fakeWaiter) Reset(d time.Duration) bool {
	was := w.Stop()
	c := w.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	w.when, w.active = c.now.Add(d), true
	c.waiters = append(c.waiters, w)
	return was
}

// remove takes w off its clock; c.mu is held.
func (w *fakeWaiter) remove() {
	w.active = false
	c := w.clock
	for i, o := range c.waiters {
		if o == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			return
		}
	}
}

// fired reports whether ch holds a value, without waiting.
func fired(ch <-chan time.Time) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
