package coordinator

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Server.Done closes once Stop has returned, with Err nil; it stays open
// while the node runs.
func TestServerDoneAfterStop(t *testing.T) {
	c := newCluster(t, 1)
	s := c.leader()
	select {
	case <-s.Done():
		t.Fatalf("Done closed while the node runs (Err %v)", s.Err())
	default:
	}
	c.stop(s.Node().ID())
	select {
	case <-s.Done():
	default:
		t.Fatal("Done still open after Stop returned")
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err after Stop = %v, want nil", err)
	}
	s.Stop() // a second Stop returns at once
}

// Server.Done closes when the Raft loop halts on a fatal storage error,
// before anyone calls Stop, and Err wraps the cause.
func TestServerDoneAfterFatalStorageError(t *testing.T) {
	c := newCluster(t, 1)
	s := c.leader()
	injected := errors.New("injected fsync failure")
	s.Node().FailSyncs(injected)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Node().Propose(ctx, []byte("x")); err == nil {
		t.Fatal("a proposal succeeded with every WAL sync failing")
	}
	select {
	case <-s.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("Done still open 15s after a fatal storage error")
	}
	if err := s.Err(); !errors.Is(err, injected) {
		t.Errorf("Err after a fatal storage error = %v, want it to wrap %q", err, injected)
	}
	c.stop(s.Node().ID())
	if err := s.Err(); !errors.Is(err, injected) {
		t.Errorf("Err after Stop = %v, want it still to wrap %q", err, injected)
	}
}
