package participant

import (
	"context"
	"errors"
	"testing"
	"time"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// preparedMem returns a MemResource holding ids prepared.
func preparedMem(t *testing.T, ids ...string) *MemResource {
	t.Helper()
	m := NewMemResource()
	for _, id := range ids {
		if err := m.Stage(id, id, "v"); err != nil {
			t.Fatal(err)
		}
		if v, err := m.Prepare(context.Background(), id); v != VoteYes || err != nil {
			t.Fatal(v, err)
		}
	}
	return m
}

func TestRecover(t *testing.T) {
	committed, aborted, pending, expired, unknown := newTxID(t), newTxID(t), newTxID(t), newTxID(t), newTxID(t)
	coord := &stubCoordinator{outcomes: map[string]verdictv1.Outcome{
		committed: verdictv1.Outcome_OUTCOME_COMMITTED,
		aborted:   verdictv1.Outcome_OUTCOME_ABORTED,
		pending:   verdictv1.Outcome_OUTCOME_PENDING,
		expired:   verdictv1.Outcome_OUTCOME_EXPIRED,
		// unknown: the stub answers Unavailable
	}}
	caddr := startCoordinator(t, coord)
	m := preparedMem(t, committed, aborted, pending, expired, unknown)
	s, err := NewServer(Config{Name: "p", Address: "127.0.0.1:1", Resource: m, Coordinators: []string{caddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Recover(ctx); err == nil {
		t.Error("Recover hid the failed Outcome of one transaction")
	}
	for id, want := range map[string]TxState{
		committed: TxCommitted, aborted: TxAborted, pending: TxPrepared, expired: TxPrepared, unknown: TxPrepared,
	} {
		if got := m.State(id); got != want {
			t.Errorf("state(%s) = %v, want %v", id, got, want)
		}
	}
	if !s.isFenced(aborted) {
		t.Error("a recovered abort does not fence")
	}

	// Once the remaining ones are answered, a pass succeeds.
	coord.mu.Lock()
	coord.outcomes[unknown] = verdictv1.Outcome_OUTCOME_ABORTED
	coord.mu.Unlock()
	if err := s.Recover(ctx); err != nil {
		t.Errorf("Recover: %v", err)
	}
	if len(m.Violations()) != 0 {
		t.Errorf("violations: %v", m.Violations())
	}
}

func TestRecoverWithoutCoordinators(t *testing.T) {
	m := preparedMem(t, newTxID(t))
	s, err := NewServer(Config{Name: "p", Address: "127.0.0.1:1", Resource: m})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if err := s.Recover(context.Background()); !errors.Is(err, ErrNoCoordinators) {
		t.Errorf("Recover = %v, want ErrNoCoordinators", err)
	}
}

func TestStartRecoversAndStopWaits(t *testing.T) {
	id := newTxID(t)
	coord := &stubCoordinator{outcomes: map[string]verdictv1.Outcome{id: verdictv1.Outcome_OUTCOME_COMMITTED}}
	caddr := startCoordinator(t, coord)
	m := preparedMem(t, id)
	s, err := NewServer(Config{Name: "p", Address: "127.0.0.1:1", Resource: m, Coordinators: []string{caddr}, RecoveryInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	s.Start()
	deadline := time.Now().Add(10 * time.Second)
	for m.State(id) != TxCommitted {
		if time.Now().After(deadline) {
			t.Fatal("Start did not run a recovery pass")
		}
		time.Sleep(5 * time.Millisecond) // bounded polling
	}
	s.Stop()
	s.Stop()
}
