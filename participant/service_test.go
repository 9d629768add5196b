package participant

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func prepare(t *testing.T, e *participantEnv, id string) *verdictv1.PrepareVote {
	t.Helper()
	resp, err := e.part.Prepare(testContext(t), &verdictv1.PrepareRequest{Txids: []string{id}})
	if err != nil {
		t.Fatalf("Prepare(%s): %v", id, err)
	}
	if len(resp.GetVotes()) != 1 {
		t.Fatalf("Prepare(%s) = %d votes, want 1", id, len(resp.GetVotes()))
	}
	return resp.GetVotes()[0]
}

func TestPrepareCommitAbortIdempotent(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := testContext(t)
	a, b := newTxID(t), newTxID(t)
	if err := e.res.Stage(a, "k", "va"); err != nil {
		t.Fatal(err)
	}
	if err := e.res.Stage(b, "k", "vb"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if v := prepare(t, e, a).GetVote(); v != verdictv1.Vote_VOTE_YES {
			t.Fatalf("vote %v, want yes", v)
		}
	}
	for range 2 {
		if _, err := e.part.Commit(ctx, decision(a)); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	if v, _ := e.res.Get("k"); v != "va" {
		t.Errorf("k = %q, want va", v)
	}
	prepare(t, e, b)
	for range 2 {
		if _, err := e.part.Abort(ctx, decision(b)); err != nil {
			t.Fatalf("Abort: %v", err)
		}
	}
	if v, _ := e.res.Get("k"); v != "va" || e.res.State(b) != TxAborted {
		t.Errorf("k = %q state(b) = %v, want va, aborted", v, e.res.State(b))
	}
	if v := prepare(t, e, newTxID(t)).GetVote(); v != verdictv1.Vote_VOTE_READ_ONLY {
		t.Errorf("prepare with nothing staged: %v, want read-only", v)
	}
	if n := len(e.res.Violations()); n != 0 {
		t.Errorf("violations: %v", e.res.Violations())
	}
}

func TestBatchCommit(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := testContext(t)
	ids := []string{newTxID(t), newTxID(t), newTxID(t)}
	for i, id := range ids {
		if err := e.res.Stage(id, string(rune('a'+i)), id); err != nil {
			t.Fatal(err)
		}
		prepare(t, e, id)
	}
	if _, err := e.part.Commit(ctx, decision(ids...)); err != nil {
		t.Fatal(err)
	}
	if _, committed, _ := e.res.Counts(); committed != 3 {
		t.Errorf("committed = %d, want 3", committed)
	}

	// A failing member of a batch fails the batch (the coordinator retries
	// it whole) without stopping the others.
	bad, good := newTxID(t), newTxID(t)
	if err := e.res.Stage(good, "g", "1"); err != nil {
		t.Fatal(err)
	}
	prepare(t, e, good)
	if _, err := e.part.Abort(ctx, decision(bad)); err != nil {
		t.Fatal(err)
	}
	_, err := e.part.Commit(ctx, decision(bad, good))
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("commit of a batch with an aborted txid: %v, want FailedPrecondition", err)
	}
	if e.res.State(good) != TxCommitted {
		t.Errorf("state(good) = %v, want committed", e.res.State(good))
	}
	// The aborted one never reaches the resource.
	if v := e.res.Violations(); len(v) != 0 {
		t.Errorf("violations = %v, want none", v)
	}
}

func TestAbortUnknownFences(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := testContext(t)
	id := newTxID(t)
	if _, err := e.part.Abort(ctx, decision(id)); err != nil {
		t.Fatal(err)
	}
	if v := prepare(t, e, id).GetVote(); v != verdictv1.Vote_VOTE_NO {
		t.Errorf("prepare after abort: %v, want no", v)
	}
	// Work under the fenced transaction is refused before any enlisting:
	// no coordinator is running.
	tx := txFor(id, "127.0.0.1:1")
	_, err := e.work.Check(underTx(ctx, tx), &healthpb.HealthCheckRequest{Service: "k"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("work after abort: %v, want FailedPrecondition", err)
	}
	if err := e.res.Stage(id, "k", "v"); !errors.Is(err, ErrFenced) {
		t.Errorf("Stage after abort: %v, want ErrFenced", err)
	}
}

func TestMalformedTxid(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := testContext(t)
	if _, err := e.part.Prepare(ctx, &verdictv1.PrepareRequest{Txids: []string{"not-a-txid"}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Prepare: %v, want InvalidArgument", err)
	}
	good := newTxID(t)
	if err := e.res.Stage(good, "k", "v"); err != nil {
		t.Fatal(err)
	}
	prepare(t, e, good)
	for name, call := range map[string]func() error{
		"commit": func() error { _, err := e.part.Commit(ctx, decision(good, "bad")); return err },
		"abort":  func() error { _, err := e.part.Abort(ctx, decision(good, "BAD")); return err },
	} {
		if err := call(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	if s := e.res.State(good); s != TxPrepared {
		t.Errorf("a rejected batch changed state to %v", s)
	}
}

// TestPrepareBatch votes on several transactions in one call, one vote each
// in request order, and refuses a batch with any malformed id or none.
func TestPrepareBatch(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := testContext(t)
	staged, unstaged, fenced := newTxID(t), newTxID(t), newTxID(t)
	if err := e.res.Stage(staged, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.part.Abort(ctx, &verdictv1.DecisionRequest{Txids: []string{fenced}}); err != nil {
		t.Fatal(err)
	}
	resp, err := e.part.Prepare(ctx, &verdictv1.PrepareRequest{Txids: []string{staged, unstaged, fenced}})
	if err != nil {
		t.Fatal(err)
	}
	want := []verdictv1.Vote{verdictv1.Vote_VOTE_YES, verdictv1.Vote_VOTE_READ_ONLY, verdictv1.Vote_VOTE_NO}
	if len(resp.GetVotes()) != len(want) {
		t.Fatalf("got %d votes, want %d", len(resp.GetVotes()), len(want))
	}
	for i, v := range resp.GetVotes() {
		if v.GetVote() != want[i] {
			t.Errorf("vote %d = %v, want %v", i, v.GetVote(), want[i])
		}
	}
	for _, ids := range [][]string{nil, {staged, "bad"}} {
		if _, err := e.part.Prepare(ctx, &verdictv1.PrepareRequest{Txids: ids}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("Prepare(%v): %v, want InvalidArgument", ids, err)
		}
	}
}

// barrierResource commits only once n commits are in progress at once,
// or fails after a bound: a batch applied one at a time fails.
type barrierResource struct {
	*MemResource
	n       int
	arrived chan struct{}
	all     chan struct{}
	once    sync.Once
}

func (r *barrierResource) Commit(ctx context.Context, id string) error {
	select {
	case r.arrived <- struct{}{}:
	default:
	}
	if len(r.arrived) == r.n {
		r.once.Do(func() { close(r.all) })
	}
	select {
	case <-r.all:
		return r.MemResource.Commit(ctx, id)
	case <-time.After(5 * time.Second):
		return errors.New("commits of the batch were not applied concurrently")
	}
}

// TestBatchCommitConcurrent applies a Commit batch's outcomes at once, so
// that one slow commit does not delay the rest of the batch.
func TestBatchCommitConcurrent(t *testing.T) {
	const n = 4
	res := &barrierResource{MemResource: NewMemResource(), n: n, arrived: make(chan struct{}, n), all: make(chan struct{})}
	_, part := serveParticipant(t, res)
	ctx := testContext(t)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newTxID(t)
		if err := res.Stage(ids[i], ids[i], "v"); err != nil {
			t.Fatal(err)
		}
		if _, err := part.Prepare(ctx, &verdictv1.PrepareRequest{Txids: ids[i : i+1]}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := part.Commit(ctx, decision(ids...)); err != nil {
		t.Fatalf("Commit of a batch of %d: %v", n, err)
	}
	if _, committed, _ := res.Counts(); committed != n {
		t.Errorf("committed = %d, want %d", committed, n)
	}
}
