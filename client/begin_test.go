package client

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Begin waits out a cluster without a leader (Unavailable from every node,
// as during an election) within its context, as Commit does; a rejected
// request fails at once.
func TestBeginWaitsForLeader(t *testing.T) {
	c, stub := newStubClient(t)
	stub.begin = func(n int) error {
		if n <= 20 { // well past the connection's own attempts
			return status.Error(codes.Unavailable, "no leader")
		}
		return nil
	}
	if _, err := c.Begin(testContext(t)); err != nil {
		t.Fatalf("Begin during an election: %v", err)
	}

	stub.mu.Lock() // a Begin of the first call may still be arriving
	stub.begin = func(int) error { return status.Error(codes.Unavailable, "no leader") }
	stub.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Begin(ctx); err == nil {
		t.Error("Begin without a leader succeeded")
	}
	if waited := time.Since(start); waited < 250*time.Millisecond || waited > 5*time.Second {
		t.Errorf("Begin without a leader gave up after %v; want about its context's 300ms", waited)
	}
	// Without a deadline in ctx, the transaction's timeout bounds Begin.
	start = time.Now()
	if _, err := c.Begin(context.Background(), WithTimeout(300*time.Millisecond)); err == nil {
		t.Error("Begin without a leader succeeded")
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("Begin with a 300ms transaction timeout waited %v", waited)
	}

	// A coordinator of its own: a Begin of the timed-out ones above may
	// still arrive at the first one after its caller gave up.
	c, stub = newStubClient(t)
	stub.begin = func(int) error { return status.Error(codes.InvalidArgument, "timeout too long") }
	if _, err := c.Begin(testContext(t)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("rejected Begin: %v, want InvalidArgument", err)
	}
	stub.mu.Lock()
	defer stub.mu.Unlock()
	if stub.begins != 1 {
		t.Errorf("a rejected Begin was sent %d times", stub.begins)
	}
}

// The term local Begins stamp with: a newer term from any answer is taken;
// after a failed local transaction it is forgotten, and only a Begin
// answer (not a late Commit answer of the same term) brings it back.
func TestLearnTerm(t *testing.T) {
	var c Client
	for _, step := range []struct {
		what   string
		do     func()
		wanted uint64
	}{
		{"a Begin answer", func() { c.learnTerm(3, true) }, 3},
		{"a failed local transaction", func() { c.forgetTerm(3) }, 0},
		{"a late Commit answer of the forgotten term", func() { c.learnTerm(3, false) }, 0},
		{"a Begin answer of it", func() { c.learnTerm(3, true) }, 3},
		{"a Commit answer of a newer term", func() { c.learnTerm(4, false) }, 4},
		{"forgetting an older term", func() { c.forgetTerm(3) }, 4},
		{"an older term", func() { c.learnTerm(2, true) }, 4},
	} {
		step.do()
		if got := c.term.Load(); got != step.wanted {
			t.Fatalf("after %s: term %d, want %d", step.what, got, step.wanted)
		}
	}
}
