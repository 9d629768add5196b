package testwait

import (
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.failed = format }

func TestForReturnsWhenCondHolds(t *testing.T) {
	n := 0
	For(t, 10*time.Second, "three polls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

func TestForFailsAfterLimit(t *testing.T) {
	r := &recorder{TB: t}
	// Fatalf does not stop For here, so the condition turns true after the failure.
	For(r, 20*time.Millisecond, "never", func() bool { return r.failed != "" })
	if r.failed == "" {
		t.Fatal("For did not fail after its limit")
	}
}
