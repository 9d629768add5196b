// Package testwait is the bounded polling every package's tests use to
// await a condition instead of sleeping.
package testwait

import (
	"testing"
	"time"
)

// Interval is how often For checks its condition.
const Interval = 5 * time.Millisecond

// For polls cond every Interval until it holds, and fails t (Fatalf,
// naming what and limit) if it still does not hold after limit.
func For(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(limit, cond) {
		t.Fatalf("timed out after %v waiting for %s", limit, what)
	}
}

// Until polls cond every Interval until it holds, and reports false if it
// still does not hold after limit.
func Until(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Interval)
	}
	return true
}
