package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/internal/clock"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// A leader marked diverged after it served retires its term: what it
// answered in that term is forgotten with its active transactions, so it
// must not serve that term again once the mark is cleared, or it could
// contradict itself. These tests run the engine as node 1, the ready
// leader of term 1 over the fake log.

// gatedParticipants holds Prepare at participant a until gate closes.
type gatedParticipants struct {
	*fakeParticipants
	gate chan struct{}
}

func (g *gatedParticipants) Prepare(ctx context.Context, addr, id string) (*verdictv1.PrepareVote, error) {
	if nameOf(addr) == "a" {
		<-g.gate
	}
	return g.fakeParticipants.Prepare(ctx, addr, id)
}

func readyEngine(t *testing.T, parts Participants) (*Engine, *clock.Fake, *fakeLog) {
	t.Helper()
	clk := clock.NewFake()
	l := &fakeLog{}
	cfg := Config{Self: 1, DefaultTimeout: 30 * time.Second, MaxTimeout: 10 * time.Minute, MaxParticipants: 16,
		MaxParticipantAddresses: 16, MaxStagedBytes: 1 << 20, MaxOpenPerClient: 100, MaxListBytes: 1 << 20,
		Retention: 24 * time.Hour, MaxRetryBackoff: time.Second, StuckAfter: time.Minute, IdleTimeout: time.Hour,
		Clock: clk, Logger: testLogger(), Knobs: &TestingKnobs{Monotonic: clk.Now}}
	e := New(cfg, Deps{Participants: parts, Publisher: &fakePublisher{}, Observer: newFakeObserver()})
	term := l.attach(e.StateMachine())
	e.Start(l)
	t.Cleanup(e.Stop)
	e.OnLeadership(true, term)
	testwait.For(t, 10*time.Second, "the engine ready", func() bool { _, ok := e.LeaderTerm(); return ok })
	return e, clk, l
}

// markAndClear marks node 1 diverged and clears the mark, in one term.
func markAndClear(t *testing.T, e *Engine) {
	t.Helper()
	ctx := context.Background()
	if err := e.MarkDiverged(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the marked engine to retire its term", e.Retired)
	if err := e.ClearDiverged(ctx, 1, "op"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the mark cleared", func() bool { return !e.fsm.isSelfDiverged() })
	// The clearing wakes the leadership loop at once; for a while after
	// it, the engine must still not be ready.
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, ok := e.LeaderTerm(); ok {
			t.Fatal("ready again in the term it retired")
		}
	}
}

// nextTerm makes the fake log's node the leader of a new term.
func nextTerm(t *testing.T, e *Engine, l *fakeLog) uint64 {
	t.Helper()
	l.mu.Lock()
	l.term++
	term := l.term
	l.mu.Unlock()
	e.OnLeadership(true, term)
	testwait.For(t, 10*time.Second, "the engine ready in the new term", func() bool { _, ok := e.LeaderTerm(); return ok })
	return term
}

// An unknown transaction answered "aborted" to a prepared participant
// is never committed afterwards by this leader: cleared in the same term
// it serves nothing; in the next, the old term's stamp is refused.
func TestRetiredTermAnswersNothing(t *testing.T) {
	e, clk, l := readyEngine(t, newFakeParticipants())
	ctx := context.Background()
	term, _ := e.LeaderTerm()
	y, err := txid.NewAt(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.Outcome(ctx, &verdictv1.OutcomeRequest{Txid: y, Prepared: true})
	if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_ABORTED {
		t.Fatalf("outcome of an unknown txid for a prepared participant: %v, %v", resp.GetOutcome(), err)
	}
	markAndClear(t, e)
	commit := func() (*verdictv1.CommitResponse, error) {
		st := &verdictv1.TxStamp{Term: term, DeadlineUnixMs: clk.Now().Add(30 * time.Second).UnixMilli()}
		return e.Commit(ctx, "c", &verdictv1.CommitRequest{Txid: y, Stamp: st, Participants: []*verdictv1.ParticipantRef{ref("a"), ref("b")}})
	}
	if _, ok := e.LeaderTerm(); ok {
		t.Fatal("ready again in the term it retired")
	}
	if r, err := commit(); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("commit in the retired term: %v, %v; want ErrNotLeader", r.GetOutcome(), err)
	}
	nextTerm(t, e, l)
	if r, err := commit(); err == nil && r.GetOutcome() == verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatal("a transaction answered aborted was committed")
	}
	if l.logged("COMMIT") {
		t.Fatal("a COMMIT was logged")
	}
}

// A decision under way when the leader is marked is never logged: the
// leader retired its term, and a retried Commit is not answered from the
// forgotten table.
func TestRetiredTermDropsDecisionUnderWay(t *testing.T) {
	parts := &gatedParticipants{fakeParticipants: newFakeParticipants(), gate: make(chan struct{})}
	e, _, l := readyEngine(t, parts)
	var once sync.Once
	open := func() { once.Do(func() { close(parts.gate) }) }
	t.Cleanup(open) // before the engine stops, whatever fails
	ctx := context.Background()
	b, err := e.Begin(ctx, "c", &verdictv1.BeginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	refs := []*verdictv1.ParticipantRef{ref("a"), ref("b")}
	type answer struct {
		resp *verdictv1.CommitResponse
		err  error
	}
	first := make(chan answer, 1)
	go func() {
		resp, err := e.Commit(ctx, "c", &verdictv1.CommitRequest{Txid: b.GetTxid(), Participants: refs})
		first <- answer{resp, err}
	}()
	testwait.For(t, 10*time.Second, "b prepared", func() bool { return parts.count("b", "prepare") == 1 })
	markAndClear(t, e)
	if _, err := e.Commit(ctx, "c", &verdictv1.CommitRequest{Txid: b.GetTxid(), Participants: refs, Retry: true}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("retried commit in the retired term: %v, want ErrNotLeader", err)
	}
	open()
	select {
	case r := <-first:
		if r.err == nil && r.resp.GetOutcome() == verdictv1.Outcome_OUTCOME_COMMITTED {
			t.Fatal("the first Commit was answered COMMITTED, with no COMMIT to log")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first Commit did not return")
	}
	if l.logged("COMMIT") {
		t.Fatal("the decision under way was logged after the leader retired its term")
	}
}

// A request that found the leader ready just before it retired its term,
// and runs on after the reset, answers nothing from the forgotten memory:
// a retried one-phase commit is neither registered again nor answered
// "aborted", and no ABORT is logged for it; also when its txid has left
// the window in which stamps register (no tombstone is needed then).
func TestRequestPastTheCheckAfterRetire(t *testing.T) {
	for _, tc := range []struct {
		name      string
		age, wait time.Duration // of the txid at its commit; the clock's step after the retire
	}{
		{"in the window", 0, 0},
		{"leaving the window", 10*time.Minute + 30*time.Second, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, clk, l := readyEngine(t, newFakeParticipants())
			ctx := context.Background()
			term, _ := e.LeaderTerm()
			y, err := txid.NewAt(clk.Now().Add(-tc.age))
			if err != nil {
				t.Fatal(err)
			}
			st := &verdictv1.TxStamp{Term: term, DeadlineUnixMs: clk.Now().Add(5 * time.Minute).UnixMilli()}
			req := &verdictv1.CommitRequest{Txid: y, Stamp: st, Participants: []*verdictv1.ParticipantRef{ref("a")}}
			if r, err := e.Commit(ctx, "c", req); err != nil || r.GetOutcome() != verdictv1.Outcome_OUTCOME_COMMITTED {
				t.Fatalf("one-phase commit: %v, %v", r.GetOutcome(), err)
			}
			if err := e.MarkDiverged(ctx, 1, 1); err != nil {
				t.Fatal(err)
			}
			testwait.For(t, 10*time.Second, "the term retired and its memory forgotten", func() bool {
				e.active.mu.Lock()
				defer e.active.mu.Unlock()
				return e.Retired() && e.active.serving == 0
			})
			clk.Advance(tc.wait)
			// commit is what Commit runs once its check found the leader ready.
			retry := &verdictv1.CommitRequest{Txid: y, Stamp: st, Retry: true, Participants: req.GetParticipants()}
			if r, err := e.commit(ctx, "c", term, retry); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("a retried commit past the check: %v %q, %v; want ErrNotLeader", r.GetOutcome(), r.GetReason(), err)
			}
			if o, reason, err := e.answerUnknown(ctx, y, true); !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("an outcome past the check: %v %q, %v; want no answer", o, reason, err)
			}
			if l.logged("ABORT") {
				t.Fatal("an ABORT was logged for a transaction committed in one phase")
			}
		})
	}
}
