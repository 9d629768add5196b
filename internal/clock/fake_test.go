package clock

import (
	"testing"
	"time"
)

// The fake clock fires timers and tickers only when advanced past them.
func TestFakeClock(t *testing.T) {
	c := NewFake()
	start := c.Now()
	tm := c.NewTimer(time.Second)
	tk := c.NewTicker(100 * time.Millisecond)
	if c.Pending() != 2 || c.Tickers() != 1 {
		t.Fatalf("%d pending, %d tickers; want 2 and 1", c.Pending(), c.Tickers())
	}
	c.Advance(999 * time.Millisecond)
	if fired(tm.C()) {
		t.Fatal("timer fired early")
	}
	if !fired(tk.C()) || fired(tk.C()) {
		t.Fatal("a ticker behind by several periods should hold exactly one tick")
	}
	c.Advance(time.Millisecond)
	if !fired(tm.C()) {
		t.Fatal("timer did not fire when due")
	}
	if got := c.Now().Sub(start); got != time.Second {
		t.Fatalf("clock advanced by %v, want 1s", got)
	}
	if tm.Reset(time.Second) {
		t.Fatal("Reset of a fired timer reported it active")
	}
	if !tm.Stop() {
		t.Fatal("Stop of a reset timer reported it inactive")
	}
	tk.Stop()
	c.Advance(time.Hour)
	if fired(tm.C()) || fired(tk.C()) || c.Pending() != 0 || c.Tickers() != 0 {
		t.Fatal("stopped timer or ticker fired")
	}
}
