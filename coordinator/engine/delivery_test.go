package engine

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/internal/clock"
	"github.com/verdict-tx/verdict/internal/testwait"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// phase2Fake records what delivery asks of the engine.
type phase2Fake struct {
	mu        sync.Mutex
	failNext  int // decide calls still to fail
	decided   []string
	retries   int
	refuse    int           // proposals still to refuse
	proposed  []*logv1.Done // accepted
	tried     []*logv1.Done // accepted or refused
	waited    []bool
	finished  []string
	attempted []string
	// unrecorded are the txids whose decision the log does not hold yet.
	unrecorded map[string]bool
}

func (f *phase2Fake) add(id, kind, part, detail string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempted = append(f.attempted, id+" "+kind)
}

func (f *phase2Fake) finish(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = append(f.finished, id)
}

// start starts a delivery over f and clock, with its DONE flush; the test's
// cleanup stops it and waits for its goroutines.
func (f *phase2Fake) start(t *testing.T, clock *clock.Fake) *delivery {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	deps := f.deps(t, ctx, clock, &wg)
	d := newDelivery(deps, slog.New(slog.DiscardHandler), time.Hour, time.Hour, time.Hour)
	deps.goroutine(d.flushDone)
	return d
}

// deps are phase2Deps over f, the fake clock and ctx; goroutines are
// counted in wg.
func (f *phase2Fake) deps(t *testing.T, ctx context.Context, clock *clock.Fake, wg *sync.WaitGroup) phase2Deps {
	return phase2Deps{
		ctx:   ctx,
		clock: clock,
		goroutine: func(g func()) bool {
			wg.Add(1)
			go func() { defer wg.Done(); g() }()
			return true
		},
		decide: func(_ context.Context, addr string, _ verdictv1.Outcome, ids []string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.failNext > 0 {
				f.failNext--
				return errors.New("unavailable")
			}
			f.decided = append(f.decided, ids...)
			return nil
		},
		publish: func(context.Context, []string) []error { t.Error("publish called"); return nil },
		propose: func(_ context.Context, rec *logv1.LogRecord, wait bool) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.tried = append(f.tried, rec.GetDone())
			if f.refuse > 0 {
				f.refuse--
				return errors.New("not accepted")
			}
			f.proposed = append(f.proposed, rec.GetDone())
			f.waited = append(f.waited, wait)
			return nil
		},
		logNow: clock.Now,
		recorded: func(ids []string) (in, out []string) {
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, id := range ids {
				if f.unrecorded[id] {
					out = append(out, id)
				} else {
					in = append(in, id)
				}
			}
			return in, out
		},
		timeline: f,
		retried:  func() { f.mu.Lock(); f.retries++; f.mu.Unlock() },
		stuck:    func(string, verdictv1.Outcome, string, []*verdictv1.ParticipantRef, time.Time) {},
	}
}

// Delivery runs on what phase2Deps gives it and nothing else: with a
// participant whose first call fails, the decision is retried once the
// clock passes the backoff, counted as one retry, acknowledged, and its
// DONE record proposed with the pending one-phase commit, waiting for its
// apply; a DONE record that is refused puts the one-phase commit back
// into the next flush.
func TestDeliveryRunsOnItsDeps(t *testing.T) {
	clock := clock.NewFake()
	f := &phase2Fake{failNext: 1, refuse: 1}
	d := f.start(t, clock)

	d.recordOnePhase("one", &verdictv1.ParticipantRef{Name: "p", Address: "a"}, clock.Now())
	d.deliver("tx", verdictv1.Outcome_OUTCOME_COMMITTED, []*verdictv1.ParticipantRef{{Name: "p", Address: "a"}})
	testwait.For(t, 10*time.Second, "the failed first delivery", func() bool {
		return failedAttempts(d, "tx") == 1
	})
	testwait.For(t, 10*time.Second, "DONE of tx and of the one-phase commit, after a refused proposal", func() bool {
		clock.Advance(time.Hour)
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, done := range f.proposed {
			if len(done.GetOnePhase()) == 1 && done.GetOnePhase()[0].GetTxid() == "one" {
				return true
			}
		}
		return false
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.decided) != 1 || f.decided[0] != "tx" || f.retries != 1 {
		t.Errorf("decided %v with %d retries; want [tx] with 1", f.decided, f.retries)
	}
	if len(f.finished) != 1 || f.finished[0] != "tx" {
		t.Errorf("timeline finished %v; want [tx]", f.finished)
	}
	// The refused record may have carried tx: only one-phase commits are
	// proposed again (recovery re-proposes a logged decision's DONE).
	sawTx := false
	for _, done := range f.tried {
		sawTx = sawTx || len(done.GetTxids()) == 1 && done.GetTxids()[0] == "tx"
	}
	for i, done := range f.proposed {
		if want := len(done.GetOnePhase()) > 0; f.waited[i] != want {
			t.Errorf("DONE %v proposed with wait %v; want %v", done, f.waited[i], want)
		}
	}
	if !sawTx {
		t.Errorf("no DONE record of tx among %v", f.tried)
	}
}

// The DONE of a transaction whose decision is not applied yet (an ABORT
// proposed without waiting, which phase 2 outran) is held back until it
// is: a DONE before its decision would be dropped by the table.
func TestDoneWaitsForItsDecision(t *testing.T) {
	clock := clock.NewFake()
	f := &phase2Fake{unrecorded: map[string]bool{"tx": true}}
	d := f.start(t, clock)
	d.deliver("tx", verdictv1.Outcome_OUTCOME_ABORTED, []*verdictv1.ParticipantRef{{Name: "p", Address: "a"}})
	testwait.For(t, 10*time.Second, "phase 2 of tx complete", func() bool { return d.completed("tx") })
	queued := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return slices.Contains(d.done, "tx")
	}
	for range 3 { // three flushes while the decision is missing
		clock.Advance(doneFlushEvery)
		testwait.For(t, 10*time.Second, "tx held back for the next flush", func() bool {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.held["tx"] > 0 && slices.Contains(d.done, "tx")
		})
	}
	f.mu.Lock()
	if len(f.tried) != 0 {
		t.Errorf("DONE proposed before its decision: %v", f.tried)
	}
	f.unrecorded = nil
	f.mu.Unlock()
	testwait.For(t, 10*time.Second, "DONE of tx once its decision is applied", func() bool {
		clock.Advance(doneFlushEvery)
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.proposed) == 1 && slices.Equal(f.proposed[0].GetTxids(), []string{"tx"})
	})
	if queued() {
		t.Error("tx still queued after its DONE")
	}
}

// A reset to a node that is not the ready leader closes delivery: a caller
// that found the node ready before the reset queues nothing and records
// no one-phase commit after it, until a reset to a ready leader.
func TestDeliveryClosedUntilReady(t *testing.T) {
	clock := clock.NewFake()
	f := &phase2Fake{}
	d := f.start(t, clock)
	parts := []*verdictv1.ParticipantRef{{Name: "p", Address: "a"}}
	pending := func() (int, int) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.txs), len(d.onePhase)
	}

	d.reset(false)
	d.deliver("late", verdictv1.Outcome_OUTCOME_COMMITTED, parts)
	d.recordOnePhase("late-one", parts[0], clock.Now())
	if txs, ones := pending(); txs != 0 || ones != 0 {
		t.Fatalf("closed delivery holds %d deliveries and %d one-phase commits; want none", txs, ones)
	}

	d.reset(true)
	d.recordOnePhase("one", parts[0], clock.Now())
	d.deliver("tx", verdictv1.Outcome_OUTCOME_COMMITTED, parts)
	testwait.For(t, 10*time.Second, "tx delivered once delivery is open again", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Contains(f.decided, "tx")
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.Contains(f.decided, "late") {
		t.Errorf("delivered %v, with what was refused while closed", f.decided)
	}
}
