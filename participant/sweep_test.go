package participant

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/internal/testwait"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// An initiator begins, does work at a participant, and is never heard of
// again; the coordinator that would abort the transaction at its deadline
// goes away too. The participant aborts the work by itself after the
// deadline, and fences the transaction.
func TestSweepAbortsAbandonedWork(t *testing.T) {
	coord := startLiveCoordinator(t)
	res := NewMemResource()
	p := startLive(t, "inventory", res, Config{
		Coordinators:  []string{coord.addr},
		SweepInterval: 10 * time.Millisecond,
		DeadlineSlack: 20 * time.Millisecond,
	})
	p.srv.Start()
	ctx := testContext(t)

	tx, err := coord.initiator(t).Begin(ctx, client.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	id := tx.ID()
	if err := p.stage(ctx, tx, "k"); err != nil {
		t.Fatalf("work: %v", err)
	}
	if s := res.State(id); s != TxActive {
		t.Fatalf("state after work = %v, want active", s)
	}
	coord.srv.Stop() // nobody will commit or abort it

	testwait.For(t, 10*time.Second, "the sweep to abort the work", func() bool { return res.State(id) == TxAborted })
	if now := time.Now(); now.Before(tx.Deadline()) {
		t.Errorf("work aborted at %v, before the deadline %v", now, tx.Deadline())
	}
	if v := prepareVote(t, p.part, id); v.GetVote() != verdictv1.Vote_VOTE_NO {
		t.Errorf("late Prepare voted %v, want no", v)
	}
	if !p.srv.isFenced(id) {
		t.Error("swept transaction is not fenced")
	}
	if _, ok := res.Get("k"); ok {
		t.Error("aborted work applied")
	}
	testwait.For(t, 10*time.Second, "the work table to empty", func() bool { return p.srv.txs.workLen() == 0 })
	if v := res.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}

func prepareVote(t *testing.T, part verdictv1.ParticipantClient, id string) *verdictv1.PrepareVote {
	t.Helper()
	resp, err := part.Prepare(testContext(t), &verdictv1.PrepareRequest{Txids: []string{id}})
	if err != nil || len(resp.GetVotes()) != 1 {
		t.Fatalf("Prepare(%s) = %v, %v", id, resp, err)
	}
	return resp.GetVotes()[0]
}

// The sweep, pass by pass on a test clock: it waits for the deadline plus
// the slack, never touches work that voted YES or a call or Prepare in
// progress, and fences what it aborts.
func TestSweepSparesPreparedAndBusyWork(t *testing.T) {
	res := NewMemResource()
	s, err := NewServer(Config{Name: "p", Address: "127.0.0.1:1", Resource: res, DeadlineSlack: time.Second, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	clock := time.Now()
	s.now = func() time.Time { return clock }
	ctx := context.Background()
	p := &service{s: s}
	deadline := clock.Add(time.Minute)

	// work stages under id as a call through the interceptor would.
	work := func(id string) (done func()) {
		t.Helper()
		done, refused := s.txs.begin(id, deadline, clock)
		if refused != "" {
			t.Fatalf("work under %s refused: %s", id, refused)
		}
		if err := res.Stage(id, id, "v"); err != nil {
			t.Fatal(err)
		}
		return done
	}
	idle, prepared, busy, preparing := newTxID(t), newTxID(t), newTxID(t), newTxID(t)
	work(idle)()
	work(prepared)()
	if v := p.prepareOne(ctx, prepared); v.GetVote() != verdictv1.Vote_VOTE_YES {
		t.Fatalf("prepare: %v", v)
	}
	busyDone := work(busy)
	work(preparing)()
	endPrepare, _, _ := s.txs.beginPrepare(preparing, clock)
	if endPrepare == nil {
		t.Fatal("beginPrepare refused")
	}

	clock = deadline.Add(time.Second - time.Millisecond)
	s.sweep(ctx)
	if st := res.State(idle); st != TxActive {
		t.Fatalf("swept before deadline + slack: %v", st)
	}

	clock = deadline.Add(time.Second)
	s.sweep(ctx)
	for id, want := range map[string]TxState{idle: TxAborted, prepared: TxPrepared, busy: TxActive, preparing: TxActive} {
		if got := res.State(id); got != want {
			t.Errorf("state = %v, want %v", got, want)
		}
	}
	if !s.isFenced(idle) || s.isFenced(prepared) || s.isFenced(busy) {
		t.Error("fenced the wrong transactions")
	}
	if v := p.prepareOne(ctx, idle); v.GetVote() != verdictv1.Vote_VOTE_NO {
		t.Errorf("Prepare after the sweep voted %v, want no", v.GetVote())
	}
	if _, refused := s.txs.begin(idle, deadline.Add(time.Hour), clock); refused != refusedAborted {
		t.Errorf("work after the sweep: %q, want refused as aborted", refused)
	}

	// Once the call and the Prepare are over, the next passes abort the
	// call's work; the Prepare's YES keeps its work.
	busyDone()
	endPrepare(VoteYes)
	s.sweep(ctx)
	if res.State(busy) != TxAborted || res.State(preparing) != TxActive {
		t.Errorf("after the call: busy %v, preparing %v; want aborted, untouched", res.State(busy), res.State(preparing))
	}
	if n := s.txs.workLen(); n != 0 {
		t.Errorf("work table holds %d entries past every deadline, want 0", n)
	}
}

// flakyAbort is a MemResource whose Abort fails while failing is set.
type flakyAbort struct {
	*MemResource
	failing atomic.Bool
}

func (f *flakyAbort) Abort(ctx context.Context, id string) error {
	if f.failing.Load() {
		return errors.New("test: abort failed")
	}
	return f.MemResource.Abort(ctx, id)
}

func TestSweepRetriesFailedAbort(t *testing.T) {
	res := &flakyAbort{MemResource: NewMemResource()}
	res.failing.Store(true)
	s, err := NewServer(Config{Name: "p", Address: "127.0.0.1:1", Resource: res, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	clock := time.Now()
	s.now = func() time.Time { return clock }
	id := newTxID(t)
	done, _ := s.txs.begin(id, clock.Add(time.Second), clock)
	if err := res.Stage(id, "k", "v"); err != nil {
		t.Fatal(err)
	}
	done()

	clock = clock.Add(time.Second + DefaultDeadlineSlack)
	s.sweep(context.Background())
	if res.State(id) != TxActive || !s.isFenced(id) {
		t.Fatalf("after a failed abort: state %v, fenced %v; want active, fenced", res.State(id), s.isFenced(id))
	}
	if v := (&service{s: s}).prepareOne(context.Background(), id); v.GetVote() != verdictv1.Vote_VOTE_NO {
		t.Errorf("Prepare while the abort is retried voted %v, want no", v.GetVote())
	}
	res.failing.Store(false)
	s.sweep(context.Background())
	if res.State(id) != TxAborted || s.txs.workLen() != 0 {
		t.Errorf("after the retry: state %v, %d entries; want aborted, 0", res.State(id), s.txs.workLen())
	}
}

// Work sealed by a YES vote admits no more calls.
func TestWorkAfterPrepareRefused(t *testing.T) {
	coord := startLiveCoordinator(t)
	res := NewMemResource()
	p := startLive(t, "inventory", res, Config{Coordinators: []string{coord.addr}})
	ctx := testContext(t)
	tx, err := coord.initiator(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.stage(ctx, tx, "a"); err != nil {
		t.Fatal(err)
	}
	if v := prepareVote(t, p.part, tx.ID()); v.GetVote() != verdictv1.Vote_VOTE_YES {
		t.Fatalf("Prepare voted %v", v)
	}
	if err := p.stage(ctx, tx, "b"); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("work after YES: %v, want FailedPrecondition", err)
	}
}
