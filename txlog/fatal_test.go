package txlog

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A WAL sync failure is fatal: the node stops leading at once, every later
// proposal fails promptly with ErrStopped (which also names the cause), and
// Done closes with the error.
func TestSyncFailureEndsLeadership(t *testing.T) {
	g := newGroup(t, 1, nil)
	lead := g.leader()
	g.propose(1)
	injected := errors.New("injected fsync failure")
	lead.FailSyncs(injected)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := lead.Propose(ctx, []byte("x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("propose whose sync fails = %v, want ErrStopped", err)
	}
	select {
	case <-lead.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("node still running after a sync failure")
	}
	if !errors.Is(lead.Err(), injected) {
		t.Errorf("Err() = %v, want the sync failure", lead.Err())
	}
	if term, ok := lead.LeaderTerm(); ok {
		t.Errorf("LeaderTerm() = %d, true after a sync failure, want false", term)
	}
	if st := lead.Status(); st.LeaderReady || st.Leader == lead.ID() {
		t.Errorf("Status() = leader %d, ready %v after a sync failure: still claims to lead", st.Leader, st.LeaderReady)
	}
	for i := 0; i < 3; i++ {
		start := time.Now()
		_, err := lead.Propose(ctx, []byte("y"))
		if !errors.Is(err, ErrStopped) || !errors.Is(err, injected) {
			t.Fatalf("propose on the stopped node = %v, want ErrStopped wrapping the sync failure", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("propose on the stopped node took %v", d)
		}
	}
	if err := lead.ReadIndex(ctx); !errors.Is(err, ErrStopped) {
		t.Errorf("ReadIndex on the stopped node = %v, want ErrStopped", err)
	}
}
