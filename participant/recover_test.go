package participant

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/internal/testwait"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

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
	committed, aborted, pending, expired, unknown, unknowable := newTxID(t), newTxID(t), newTxID(t), newTxID(t), newTxID(t), newTxID(t)
	coord := &stubCoordinator{outcomes: map[string]verdictv1.Outcome{
		committed:  verdictv1.Outcome_OUTCOME_COMMITTED,
		aborted:    verdictv1.Outcome_OUTCOME_ABORTED,
		pending:    verdictv1.Outcome_OUTCOME_PENDING,
		expired:    verdictv1.Outcome_OUTCOME_EXPIRED,
		unknowable: verdictv1.Outcome_OUTCOME_UNKNOWN, // never for a prepared asker; kept prepared
		// unknown: the stub answers Unavailable
	}}
	caddr := startCoordinator(t, coord)
	m := preparedMem(t, committed, aborted, pending, expired, unknown, unknowable)
	var logs syncBuffer
	s, err := NewServer(Config{Name: "p", Address: "127.0.0.1:1", Resource: m, Coordinators: []string{caddr},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
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
		committed: TxCommitted, aborted: TxAborted, pending: TxPrepared, expired: TxPrepared, unknown: TxPrepared, unknowable: TxPrepared,
	} {
		if got := m.State(id); got != want {
			t.Errorf("state(%s) = %v, want %v", id, got, want)
		}
	}
	// The recovery loop asks as a participant that holds the work
	// prepared, for which an unknown transaction is presumed aborted.
	coord.mu.Lock()
	for _, req := range coord.asked {
		if !req.GetPrepared() {
			t.Errorf("Outcome(%s) asked without prepared", req.GetTxid())
		}
	}
	coord.mu.Unlock()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), unknowable) {
		t.Errorf("an OUTCOME_UNKNOWN answer to a prepared participant is not logged:\n%s", logs.String())
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

// A participant restarted with prepared transactions in its resource
// resolves them on start: one the coordinator committed while phase 2 could
// not reach the participant is committed; one the coordinator never heard
// of is aborted (presumed abort).
func TestRestartResolvesPrepared(t *testing.T) {
	coord := startLiveCoordinator(t)
	ctx := testContext(t)
	res, other := NewMemResource(), NewMemResource()
	cfg := Config{Coordinators: []string{coord.addr}, RecoveryInterval: time.Hour}
	p := startLive(t, "inventory", res, cfg)
	p.blockCommit.Store(true)
	q := startLive(t, "ledger", other, cfg)

	tx, err := coord.initiator(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	committed := tx.ID()
	for _, part := range []*liveParticipant{p, q} {
		if err := part.stage(ctx, tx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	testwait.For(t, 10*time.Second, "the other participant to commit", func() bool { return other.State(committed) == TxCommitted })
	if s := res.State(committed); s != TxPrepared {
		t.Fatalf("state with phase 2 blocked = %v, want prepared", s)
	}
	unknown := newTxID(t)
	if err := res.Stage(unknown, "u", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := res.Prepare(ctx, unknown); v != VoteYes || err != nil {
		t.Fatal(v, err)
	}

	// Crash and restart, on another address: the coordinator's phase 2
	// still cannot reach it, so only its own recovery can resolve them.
	p.stop()
	restarted := startLive(t, "inventory", res, cfg)
	restarted.srv.Start()
	testwait.For(t, 10*time.Second, "recovery on start", func() bool {
		return res.State(committed) == TxCommitted && res.State(unknown) == TxAborted
	})
	if v, _ := res.Get("k"); v != committed {
		t.Errorf("k = %q, want the committed transaction's write", v)
	}
	if _, ok := res.Get("u"); ok {
		t.Error("the unknown transaction's work was applied")
	}
	if !restarted.srv.isFenced(unknown) {
		t.Error("the aborted transaction is not fenced")
	}
	if v := res.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}

// The periodic pass asks again about a transaction that was PENDING: held
// prepared (as an early-preparing resource does at the end of the call)
// while the initiator has not committed yet, then committed while phase 2
// cannot reach the participant.
func TestRecoveryLoopRetriesPending(t *testing.T) {
	coord := startLiveCoordinator(t)
	ctx := testContext(t)
	res, other := NewMemResource(), NewMemResource()
	p := startLive(t, "inventory", res, Config{Coordinators: []string{coord.addr}, RecoveryInterval: 20 * time.Millisecond})
	p.blockCommit.Store(true)
	q := startLive(t, "ledger", other, Config{Coordinators: []string{coord.addr}})
	var mu sync.Mutex
	var seen []verdictv1.Outcome
	p.srv.onOutcome = func(id string, o verdictv1.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, o)
	}
	saw := func(o verdictv1.Outcome) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(seen, o)
	}

	tx, err := coord.initiator(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []*liveParticipant{p, q} {
		if err := part.stage(ctx, tx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := res.Prepare(ctx, tx.ID()); v != VoteYes || err != nil {
		t.Fatal(v, err)
	}
	p.srv.Start()
	testwait.For(t, 10*time.Second, "a pass to find the transaction pending", func() bool { return saw(verdictv1.Outcome_OUTCOME_PENDING) })
	if s := res.State(tx.ID()); s != TxPrepared {
		t.Fatalf("state after a PENDING answer = %v, want prepared", s)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	testwait.For(t, 10*time.Second, "a later pass to commit it", func() bool { return res.State(tx.ID()) == TxCommitted })
	if !saw(verdictv1.Outcome_OUTCOME_COMMITTED) {
		t.Error("committed without the recovery loop learning COMMITTED")
	}
	if v := res.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}
