package participant

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestMemResourceHistory(t *testing.T) {
	m := NewMemResource()
	ctx := context.Background()
	a, b, c := "a", "b", "c"
	for _, id := range []string{a, b} {
		if err := m.Stage(id, "k", id); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := m.Prepare(ctx, a); v != VoteYes || err != nil {
		t.Fatalf("Prepare(a) = %v, %v", v, err)
	}
	if err := m.Stage(a, "k2", "late"); !errors.Is(err, ErrFenced) {
		t.Errorf("Stage after prepare: %v, want ErrFenced", err)
	}
	if err := m.Commit(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := m.Abort(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := m.Abort(ctx, c); err != nil { // unknown: fenced
		t.Fatal(err)
	}
	if err := m.Commit(ctx, b); !errors.Is(err, ErrViolation) {
		t.Errorf("commit of aborted: %v, want ErrViolation", err)
	}
	if err := m.Abort(ctx, a); !errors.Is(err, ErrViolation) {
		t.Errorf("abort of committed: %v, want ErrViolation", err)
	}
	if s := m.State(b); s != TxAborted {
		t.Errorf("a violation changed state to %v", s)
	}
	if v, _ := m.Get("k"); v != "a" {
		t.Errorf("k = %q", v)
	}
	want := []Event{
		{Kind: EventPrepare, TxID: a, Vote: VoteYes},
		{Kind: EventCommit, TxID: a},
		{Kind: EventAbort, TxID: b},
		{Kind: EventAbort, TxID: c},
		{Kind: EventViolation, TxID: b, Detail: "commit of a aborted transaction"},
		{Kind: EventViolation, TxID: a, Detail: "abort of a committed transaction"},
	}
	if got := m.History(); !slices.Equal(got, want) {
		t.Errorf("history:\n got %v\nwant %v", got, want)
	}
	if v := m.Violations(); len(v) != 2 {
		t.Errorf("violations = %v", v)
	}
	if p, cm, ab := m.Counts(); p != 0 || cm != 1 || ab != 2 {
		t.Errorf("counts = %d %d %d", p, cm, ab)
	}
}

func TestMemResourceCommitUnprepared(t *testing.T) {
	m := NewMemResource()
	if err := m.Stage("a", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := m.Commit(context.Background(), "a"); !errors.Is(err, ErrViolation) {
		t.Errorf("commit without prepare: %v, want ErrViolation", err)
	}
	if _, ok := m.Get("k"); ok {
		t.Error("unprepared work applied")
	}
}

func TestMemResourceVoteHook(t *testing.T) {
	m := NewMemResource()
	m.SetVote(func(ctx context.Context, txid string) (Vote, error) {
		switch txid {
		case "no":
			return VoteNo, nil
		case "slow":
			<-ctx.Done()
			return VoteNo, ctx.Err()
		}
		return VoteReadOnly, nil
	})
	for _, id := range []string{"no", "slow", "ro"} {
		if err := m.Stage(id, "k", id); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	for id, want := range map[string]Vote{"no": VoteNo, "slow": VoteNo, "ro": VoteReadOnly} {
		if v, _ := m.Prepare(ctx, id); v != want {
			t.Errorf("Prepare(%s) = %v, want %v", id, v, want)
		}
	}
	if m.State("no") != TxAborted || m.State("slow") != TxAborted || m.State("ro") != TxNone {
		t.Errorf("states: no=%v slow=%v ro=%v", m.State("no"), m.State("slow"), m.State("ro"))
	}
	if ids, _ := m.Prepared(ctx); len(ids) != 0 {
		t.Errorf("prepared = %v", ids)
	}
}

func TestMemResourceAbortWhilePreparing(t *testing.T) {
	m := NewMemResource()
	entered, release := make(chan struct{}), make(chan struct{})
	m.SetVote(func(ctx context.Context, txid string) (Vote, error) {
		close(entered)
		<-release
		return VoteYes, nil
	})
	if err := m.Stage("a", "k", "v"); err != nil {
		t.Fatal(err)
	}
	done := make(chan Vote)
	go func() { v, _ := m.Prepare(context.Background(), "a"); done <- v }()
	<-entered
	if err := m.Abort(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if v := <-done; v != VoteNo {
		t.Errorf("vote after a concurrent abort: %v, want no", v)
	}
	if m.State("a") != TxAborted {
		t.Errorf("state = %v", m.State("a"))
	}
}
