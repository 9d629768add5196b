package participant

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/testwait"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// notRecoverer is a Resource without the Recoverer ability.
type notRecoverer struct{ Resource }

// countingResource counts the Prepares of a MemResource.
type countingResource struct {
	*MemResource
	prepares atomic.Int32
}

func (r *countingResource) Prepare(ctx context.Context, txid string) (Vote, error) {
	r.prepares.Add(1)
	return r.MemResource.Prepare(ctx, txid)
}

func TestEarlyVoteNeedsRecoverer(t *testing.T) {
	_, err := NewServer(Config{Name: "p", Address: "127.0.0.1:1", Resource: notRecoverer{NewMemResource()}, EarlyVote: true})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("EarlyVote over a Resource that cannot list its prepared work: %v, want ErrInvalidConfig", err)
	}
}

func TestEarlyVoteEnlistsWithYes(t *testing.T) {
	coord := &stubCoordinator{}
	caddr := startCoordinator(t, coord)
	e := newEnv(t, Config{EarlyVote: true})
	ctx := testContext(t)
	tx := txFor(newTxID(t), caddr)

	if _, err := e.work.Check(underTx(ctx, tx), &healthpb.HealthCheckRequest{Service: "k"}); err != nil {
		t.Fatal(err)
	}
	if s := e.res.State(tx.ID); s != TxPrepared {
		t.Fatalf("state after the call = %v, want prepared", s)
	}
	coord.mu.Lock()
	req := coord.enlisted[0]
	coord.mu.Unlock()
	if len(req.GetVotes()) != 1 || req.GetVotes()[0] != verdictv1.Vote_VOTE_YES {
		t.Fatalf("enlist votes = %v, want [YES]", req.GetVotes())
	}
	// The work is sealed: a second call is refused, and enlists nothing.
	if _, err := e.work.Check(underTx(ctx, tx), &healthpb.HealthCheckRequest{Service: "k2"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a call after the YES: %v, want FailedPrecondition", err)
	}
	if n := coord.enlists.Load(); n != 1 {
		t.Fatalf("%d enlistments, want 1", n)
	}
	// The coordinator's Commit applies it.
	if _, err := e.part.Commit(ctx, decision(tx.ID)); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.res.Get("k"); v != tx.ID {
		t.Fatalf("committed value %q, want %q", v, tx.ID)
	}
}

func TestEarlyVoteNoFailsTheCall(t *testing.T) {
	coord := &stubCoordinator{}
	caddr := startCoordinator(t, coord)
	e := newEnv(t, Config{EarlyVote: true})
	e.res.SetVote(func(context.Context, string) (Vote, error) { return VoteNo, errors.New("out of stock") })
	ctx := testContext(t)
	tx := txFor(newTxID(t), caddr)

	_, err := e.work.Check(underTx(ctx, tx), &healthpb.HealthCheckRequest{Service: "k"})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("call voting no: %v, want Aborted", err)
	}
	if s := e.res.State(tx.ID); s != TxAborted {
		t.Fatalf("state = %v, want aborted", s)
	}
	if n := coord.enlists.Load(); n != 0 {
		t.Fatalf("a NO enlisted %d times", n)
	}
}

func TestEarlyVoteHandlerErrorEnlistsWithoutVote(t *testing.T) {
	coord := &stubCoordinator{}
	caddr := startCoordinator(t, coord)
	e := newEnv(t, Config{EarlyVote: true})
	ctx := testContext(t)
	tx := txFor(newTxID(t), caddr)
	// The resource has rolled tx back behind the Server's back: the
	// handler's write fails.
	if err := e.res.Stage(tx.ID, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := e.res.Abort(ctx, tx.ID); err != nil {
		t.Fatal(err)
	}
	_, err := e.work.Check(underTx(ctx, tx), &healthpb.HealthCheckRequest{Service: "k"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("the failing handler's call: %v, want its FailedPrecondition", err)
	}
	coord.mu.Lock()
	defer coord.mu.Unlock()
	if len(coord.enlisted) != 1 || coord.enlisted[0].GetTxids()[0] != tx.ID || len(coord.enlisted[0].GetVotes()) != 0 {
		t.Fatalf("enlistments = %v, want one without a vote", coord.enlisted)
	}
	if s := e.res.State(tx.ID); s != TxAborted {
		t.Fatalf("state = %v: a failed call's work was prepared", s)
	}
}

// A refused enlistment with a YES leaves the work prepared: the refusal
// may answer a retry whose first attempt was counted. Recovery settles it.
func TestEarlyVoteRefusedEnlistmentKeepsWork(t *testing.T) {
	coord := &stubCoordinator{refuse: codes.FailedPrecondition, outcomes: map[string]verdictv1.Outcome{}}
	caddr := startCoordinator(t, coord)
	e := newEnv(t, Config{EarlyVote: true, Coordinators: []string{caddr}, RecoveryInterval: time.Hour})
	ctx := testContext(t)
	tx := txFor(newTxID(t), caddr)

	_, err := e.work.Check(underTx(ctx, tx), &healthpb.HealthCheckRequest{Service: "k"})
	if status.Code(err) != codes.Unknown {
		t.Fatalf("call whose enlistment was refused: %v, want Unknown", err)
	}
	if s := e.res.State(tx.ID); s != TxPrepared {
		t.Fatalf("state = %v, want prepared", s)
	}
	coord.mu.Lock()
	coord.outcomes[tx.ID] = verdictv1.Outcome_OUTCOME_ABORTED
	coord.mu.Unlock()
	if err := e.srv.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if s := e.res.State(tx.ID); s != TxAborted {
		t.Fatalf("state after recovery = %v, want aborted", s)
	}
}

// A refusal that proves the YES uncounted (a limit, an invalid request:
// checks a counted attempt would have passed) rolls the work back.
func TestEarlyVoteLimitRollsBack(t *testing.T) {
	// As for an enlistment without a vote: a limit may clear (Unavailable),
	// an invalid request will not.
	for code, want := range map[codes.Code]codes.Code{codes.ResourceExhausted: codes.Unavailable, codes.InvalidArgument: codes.FailedPrecondition} {
		coord := &stubCoordinator{refuse: code}
		caddr := startCoordinator(t, coord)
		e := newEnv(t, Config{EarlyVote: true})
		ctx := testContext(t)
		tx := txFor(newTxID(t), caddr)
		_, err := e.work.Check(underTx(ctx, tx), &healthpb.HealthCheckRequest{Service: "k"})
		if status.Code(err) != want {
			t.Fatalf("%v: call whose enlistment was refused: %v, want %v", code, err, want)
		}
		if s := e.res.State(tx.ID); s != TxAborted {
			t.Fatalf("%v: state = %v, want aborted", code, s)
		}
	}
}

// A read-only vote at the end of a call enlists without a vote, and the
// coordinator's Prepare gets READ_ONLY without asking the Resource again
// (which may have forgotten the transaction); a later call clears that.
func TestEarlyVoteReadOnly(t *testing.T) {
	coord := &stubCoordinator{}
	caddr := startCoordinator(t, coord)
	res := &countingResource{MemResource: NewMemResource()}
	e := newEnvOver(t, Config{EarlyVote: true, Resource: res}, res.MemResource)
	var asked atomic.Int32
	e.res.SetVote(func(context.Context, string) (Vote, error) {
		if asked.Add(1) == 1 {
			return VoteReadOnly, nil
		}
		return VoteYes, nil
	})
	ctx := testContext(t)
	tx := txFor(newTxID(t), caddr)
	if _, err := e.work.Check(underTx(ctx, tx), &healthpb.HealthCheckRequest{Service: "k"}); err != nil {
		t.Fatal(err)
	}
	coord.mu.Lock()
	votes := coord.enlisted[0].GetVotes()
	coord.mu.Unlock()
	if len(votes) != 0 {
		t.Fatalf("read-only call enlisted with votes %v", votes)
	}
	resp, err := e.part.Prepare(ctx, &verdictv1.PrepareRequest{Txids: []string{tx.ID}})
	if err != nil || resp.GetVotes()[0].GetVote() != verdictv1.Vote_VOTE_READ_ONLY || res.prepares.Load() != 1 {
		t.Fatalf("Prepare after an early read-only vote: %v %v, resource asked %d times; want READ_ONLY, asked once", resp, err, res.prepares.Load())
	}

	// A second transaction: read-only first, then a call that writes.
	tx2 := txFor(newTxID(t), caddr)
	asked.Store(0)
	for _, k := range []string{"r", "w"} {
		if _, err := e.work.Check(underTx(ctx, tx2), &healthpb.HealthCheckRequest{Service: k}); err != nil {
			t.Fatal(err)
		}
	}
	if s := e.res.State(tx2.ID); s != TxPrepared {
		t.Fatalf("after a writing call: %v, want prepared", s)
	}
}

// A coordinator's Prepare while a call of the transaction is in progress
// votes NO without asking the Resource.
func TestPrepareDuringCallVotesNo(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := testContext(t)
	id := newTxID(t)
	done, refused := e.srv.txs.begin(id, time.Now().Add(time.Minute), time.Now())
	if refused != "" {
		t.Fatal(refused)
	}
	defer done()
	resp, err := e.part.Prepare(ctx, &verdictv1.PrepareRequest{Txids: []string{id}})
	if err != nil || resp.GetVotes()[0].GetVote() != verdictv1.Vote_VOTE_NO {
		t.Fatalf("Prepare during a call: %v %v, want NO", resp, err)
	}
	if !strings.Contains(resp.GetVotes()[0].GetReason(), "call in progress") {
		t.Fatalf("reason %q", resp.GetVotes()[0].GetReason())
	}
}

func TestEarlyVoteLostAnswerKeepsWorkForRecovery(t *testing.T) {
	coord := &stubCoordinator{enlistErr: status.Error(codes.Unavailable, "stub: connection lost"), outcomes: map[string]verdictv1.Outcome{}}
	caddr := startCoordinator(t, coord)
	e := newEnv(t, Config{EarlyVote: true, Coordinators: []string{caddr}, RecoveryInterval: time.Hour})
	ctx := testContext(t)
	tx := txFor(newTxID(t), caddr)

	_, err := e.work.Check(underTx(ctx, tx), &healthpb.HealthCheckRequest{Service: "k"})
	if status.Code(err) != codes.Unknown {
		t.Fatalf("call whose enlistment's answer was lost: %v, want Unknown", err)
	}
	// The YES may have been counted: the work stays prepared...
	if s := e.res.State(tx.ID); s != TxPrepared {
		t.Fatalf("state = %v, want prepared", s)
	}
	// ...and follows the outcome the recovery loop learns.
	coord.mu.Lock()
	coord.outcomes[tx.ID] = verdictv1.Outcome_OUTCOME_COMMITTED
	coord.mu.Unlock()
	if err := e.srv.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if s := e.res.State(tx.ID); s != TxCommitted {
		t.Fatalf("state after recovery = %v, want committed", s)
	}
}

// TestRecoveryWaitsForTheCall: work prepared by a call still in progress
// is not asked about: its enlistment may not have reached the coordinator.
func TestRecoveryWaitsForTheCall(t *testing.T) {
	coord := &stubCoordinator{outcomes: map[string]verdictv1.Outcome{}}
	caddr := startCoordinator(t, coord)
	e := newEnv(t, Config{Coordinators: []string{caddr}, RecoveryInterval: time.Hour})
	ctx := testContext(t)
	id := newTxID(t)
	done, refused := e.srv.txs.begin(id, time.Now().Add(time.Minute), time.Now())
	if refused != "" {
		t.Fatal(refused)
	}
	if err := e.res.Stage(id, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := e.res.Prepare(ctx, id); v != VoteYes || err != nil {
		t.Fatal(v, err)
	}
	coord.mu.Lock()
	coord.outcomes[id] = verdictv1.Outcome_OUTCOME_ABORTED
	coord.mu.Unlock()
	if err := e.srv.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if n := coord.askedCount(); n != 0 || e.res.State(id) != TxPrepared {
		t.Fatalf("asked %d times while the call ran; state %v", n, e.res.State(id))
	}
	done()
	if err := e.srv.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if n := coord.askedCount(); n != 1 || e.res.State(id) != TxAborted {
		t.Fatalf("after the call: asked %d times, state %v; want 1, aborted", n, e.res.State(id))
	}
}

// TestEarlyVoteLive runs a real coordinator: participants that vote with
// their enlistment get no Prepare, the one that does not gets one, and
// the transaction commits everywhere; a second call of an early-voted
// transaction is refused.
func TestEarlyVoteLive(t *testing.T) {
	coord := startLiveCoordinator(t)
	ctx := testContext(t)
	resA, resB, resC := NewMemResource(), NewMemResource(), NewMemResource()
	a := startLive(t, "a", resA, Config{EarlyVote: true})
	b := startLive(t, "b", resB, Config{EarlyVote: true})
	c := startLive(t, "c", resC, Config{})
	cl := coord.initiator(t)

	for _, parts := range [][]*liveParticipant{{a, b}, {a, b, c}, {a}} {
		tx, err := cl.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := []int32{a.prepares.Load(), b.prepares.Load(), c.prepares.Load()}
		for _, p := range parts {
			if err := p.stage(ctx, tx, "k"); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.stage(ctx, tx, "again"); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("a second call after the early YES: %v, want FailedPrecondition", err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("Commit over %d participants: %v", len(parts), err)
		}
		for i, p := range []*liveParticipant{a, b} {
			if n := p.prepares.Load() - before[i]; n != 0 {
				t.Errorf("participant %d got %d Prepare calls after voting with its enlistment", i, n)
			}
		}
		if len(parts) == 3 && c.prepares.Load()-before[2] != 1 {
			t.Errorf("the participant without an early vote got %d Prepare calls, want 1", c.prepares.Load()-before[2])
		}
		for i, p := range parts {
			res := []*MemResource{resA, resB, resC}[i]
			testwait.For(t, 10*time.Second, "phase 2 at "+p.srv.cfg.Name, func() bool { return res.State(tx.ID()) == TxCommitted })
		}
	}
	for _, res := range []*MemResource{resA, resB, resC} {
		if v := res.Violations(); len(v) != 0 {
			t.Fatalf("violations: %v", v)
		}
	}
}
