package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
)

func soon() time.Time { return time.Now().Add(time.Minute) }

func TestCommit(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)
	id := newTxID(t)

	if err := r.run(ctx, id, soon(), f.insert("k1", id)); err != nil {
		t.Fatal(err)
	}
	if gids := f.preparedGIDs(t, ctx); len(gids) != 1 || gids[0] != f.prefix+":"+id+":"+f.branch {
		t.Fatalf("prepared gids %v, want the one of %s", gids, id)
	}
	if _, ok := f.value(t, "k1"); ok {
		t.Fatal("prepared work is visible before the commit")
	}
	if v, err := r.Prepare(ctx, id); v != participant.VoteYes || err != nil {
		t.Fatalf("Prepare = %v, %v; want yes", v, err)
	}
	if err := r.Commit(ctx, id); err != nil {
		t.Fatal(err)
	}
	if v, ok := f.value(t, "k1"); !ok || v != id {
		t.Fatalf("k1 = %q, %v after commit", v, ok)
	}
	if gids := f.preparedGIDs(t, ctx); len(gids) != 0 {
		t.Fatalf("still prepared after commit: %v", gids)
	}
	// Idempotent: the gid is gone, the marker says committed.
	if err := r.Commit(ctx, id); err != nil {
		t.Fatalf("second Commit: %v", err)
	}
	// A Resource restarted with no memory of it agrees.
	if err := f.newResource(t).Commit(ctx, id); err != nil {
		t.Fatalf("Commit after a restart: %v", err)
	}
	if s := r.Stats(); s.Prepared != 1 || s.Committed != 1 || s.Heuristic != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestAbort(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)
	id := newTxID(t)

	if err := r.run(ctx, id, soon(), f.insert("k1", id)); err != nil {
		t.Fatal(err)
	}
	if err := r.Abort(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.value(t, "k1"); ok {
		t.Fatal("aborted work is visible")
	}
	if gids := f.preparedGIDs(t, ctx); len(gids) != 0 {
		t.Fatalf("still prepared after abort: %v", gids)
	}
	if err := r.Abort(ctx, id); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	if v, err := r.Prepare(ctx, id); v != participant.VoteNo || !errors.Is(err, ErrAborted) {
		t.Fatalf("Prepare after Abort = %v, %v; want no, ErrAborted", v, err)
	}
	if err := r.run(ctx, id, soon(), f.insert("k2", id)); !errors.Is(err, ErrAborted) {
		t.Fatalf("work after Abort: %v, want ErrAborted", err)
	}
	// An unknown transaction aborts, and is fenced.
	other := newTxID(t)
	if err := r.Abort(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := r.run(ctx, other, soon(), f.insert("k3", other)); !errors.Is(err, ErrAborted) {
		t.Fatalf("work after Abort of an unknown transaction: %v, want ErrAborted", err)
	}
	if s := r.Stats(); s.Aborted != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestVoteNoOnSQLError(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)

	bad := func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO "+f.table+"_missing (k) VALUES ('x')")
		return err
	}
	id := newTxID(t)
	if err := r.run(ctx, id, soon(), bad); err == nil {
		t.Fatal("work with an SQL error succeeded")
	}
	if v, err := r.Prepare(ctx, id); v != participant.VoteNo || err == nil {
		t.Fatalf("Prepare = %v, %v; want no with a reason", v, err)
	}

	// An SQL error the work ignores is caught all the same.
	id = newTxID(t)
	err := r.run(ctx, id, soon(), func(tx pgx.Tx) error {
		_ = bad(tx)
		return nil
	})
	if err == nil {
		t.Fatal("work that ignored an SQL error succeeded")
	}
	if v, err := r.Prepare(ctx, id); v != participant.VoteNo || err == nil {
		t.Fatalf("Prepare = %v, %v; want no with a reason", v, err)
	}

	// Work never done here votes no: it may have been lost in a restart.
	if v, err := r.Prepare(ctx, newTxID(t)); v != participant.VoteNo || err == nil {
		t.Fatalf("Prepare of unknown work = %v, %v; want no", v, err)
	}
	if gids := f.preparedGIDs(t, ctx); len(gids) != 0 {
		t.Fatalf("prepared: %v", gids)
	}
}

func TestReadOnly(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)
	id := newTxID(t)
	err := r.run(ctx, id, soon(), func(tx pgx.Tx) error {
		var n int
		return tx.QueryRow(ctx, "SELECT count(*) FROM "+f.table).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	if gids := f.preparedGIDs(t, ctx); len(gids) != 0 {
		t.Fatalf("read-only work prepared: %v", gids)
	}
	if v, err := r.Prepare(ctx, id); v != participant.VoteReadOnly || err != nil {
		t.Fatalf("Prepare = %v, %v; want read-only", v, err)
	}
	if s := r.Stats(); s.ReadOnly != 1 || s.Prepared != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestWorkTwice(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)
	id := newTxID(t)

	// A failed or read-only call leaves the way open.
	if err := r.run(ctx, id, soon(), func(pgx.Tx) error { return errors.New("first try fails") }); err == nil {
		t.Fatal("failing work succeeded")
	}
	if err := r.run(ctx, id, soon(), func(pgx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.run(ctx, id, soon(), f.insert("k1", id)); err != nil {
		t.Fatalf("work after a failed and a read-only call: %v", err)
	}
	// Work prepared: a second call is refused.
	if err := r.run(ctx, id, soon(), f.insert("k2", id)); !errors.Is(err, ErrWorkDone) {
		t.Fatalf("second work: %v, want ErrWorkDone", err)
	}
	// So is a concurrent one.
	id2 := newTxID(t)
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = r.run(ctx, id2, soon(), func(tx pgx.Tx) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	err := r.run(ctx, id2, soon(), f.insert("k3", id2))
	close(release)
	wg.Wait()
	if !errors.Is(err, ErrWorkDone) {
		t.Fatalf("concurrent work: %v, want ErrWorkDone", err)
	}
	// The work may not end the transaction itself.
	id3 := newTxID(t)
	err = r.run(ctx, id3, soon(), func(tx pgx.Tx) error { return tx.Commit(ctx) })
	if !errors.Is(err, ErrTxControl) {
		t.Fatalf("Commit in the work: %v, want ErrTxControl", err)
	}
	if err := r.Commit(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.value(t, "k2"); ok {
		t.Fatal("refused work committed")
	}
}

// An Abort that arrives while the work runs wins: the work is rolled back
// instead of prepared.
func TestAbortDuringWork(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)
	id := newTxID(t)

	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- r.run(ctx, id, soon(), func(tx pgx.Tx) error {
			if err := f.insert("k1", id)(tx); err != nil {
				return err
			}
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	if err := r.Abort(ctx, id); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; !errors.Is(err, ErrAborted) {
		t.Fatalf("work aborted meanwhile: %v, want ErrAborted", err)
	}
	if gids := f.preparedGIDs(t, ctx); len(gids) != 0 {
		t.Fatalf("late prepare not refused: %v", gids)
	}
	if v, _ := r.Prepare(ctx, id); v != participant.VoteNo {
		t.Fatalf("Prepare = %v, want no", v)
	}
}

func TestPastDeadline(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)
	if err := r.run(ctx, newTxID(t), time.Now().Add(-time.Second), f.insert("k1", "x")); !errors.Is(err, ErrAborted) {
		t.Fatalf("work past the deadline: %v, want ErrAborted", err)
	}
}

func TestHeuristicRollback(t *testing.T) {
	f := newFixture(t)
	cfg := f.config(f.branch)
	var mu sync.Mutex
	var seen []*HeuristicError
	cfg.OnHeuristic = func(e *HeuristicError) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, e)
	}
	ctx := testContext(t)
	r, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := newTxID(t)
	if err := r.run(ctx, id, soon(), f.insert("k1", id)); err != nil {
		t.Fatal(err)
	}
	gid := f.prefix + ":" + id + ":" + f.branch
	// Someone rolls it back behind the Resource's back.
	if _, err := f.pool.Exec(ctx, "ROLLBACK PREPARED '"+gid+"'"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // redelivered: reported once, refused each time
		err = r.Commit(ctx, id)
		var he *HeuristicError
		if !errors.Is(err, ErrHeuristic) || !errors.As(err, &he) {
			t.Fatalf("Commit = %v, want a *HeuristicError", err)
		}
		if he.Found != HeuristicRollback || he.TxID != id || he.GID != gid || he.Decision != "commit" {
			t.Fatalf("heuristic error %+v", he)
		}
	}
	if s := r.Stats(); s.Heuristic != 1 || s.Committed != 0 {
		t.Fatalf("stats %+v", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0].TxID != id {
		t.Fatalf("OnHeuristic saw %v", seen)
	}
}

func TestHeuristicCommit(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)
	id := newTxID(t)
	if err := r.run(ctx, id, soon(), f.insert("k1", id)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, "COMMIT PREPARED '"+f.prefix+":"+id+":"+f.branch+"'"); err != nil {
		t.Fatal(err)
	}
	err := r.Abort(ctx, id)
	var he *HeuristicError
	if !errors.As(err, &he) || he.Found != HeuristicCommit || he.Decision != "abort" {
		t.Fatalf("Abort = %v, want a heuristic commit", err)
	}
	if s := r.Stats(); s.Heuristic != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPrepared(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	other, err := New(testContext(t), f.config("other-"+f.branch))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	a, b, c := newTxID(t), newTxID(t), newTxID(t)
	for _, id := range []string{a, b} {
		if err := r.run(ctx, id, soon(), f.insert("k-"+id, id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.run(ctx, c, soon(), f.insert("k-"+c, c)); err != nil {
		t.Fatal(err)
	}
	ids, err := r.Prepared(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] != a || ids[1] != b {
		t.Fatalf("Prepared = %v, want [%s %s] (not the other branch's %s)", ids, a, b, c)
	}
	// After a restart, Prepare finds the work in pg_prepared_xacts.
	restarted := f.newResource(t)
	if v, err := restarted.Prepare(ctx, a); v != participant.VoteYes || err != nil {
		t.Fatalf("Prepare after restart = %v, %v; want yes", v, err)
	}
	if err := restarted.run(ctx, a, soon(), f.insert("again", a)); !errors.Is(err, ErrWorkDone) {
		t.Fatalf("work after restart on prepared: %v, want ErrWorkDone", err)
	}
}

func TestMarkerCleanup(t *testing.T) {
	f := newFixture(t)
	cfg := f.config(f.branch)
	cfg.MarkerRetention = time.Millisecond
	ctx := testContext(t)
	r, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := newTxID(t)
	if err := r.run(ctx, id, soon(), f.insert("k1", id)); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx, id); err != nil {
		t.Fatal(err)
	}
	var n int
	testwait.For(t, 10*time.Second, "the marker deleted", func() bool {
		if _, err := r.CleanMarkers(ctx); err != nil {
			t.Fatal(err)
		}
		if err := f.pool.QueryRow(ctx, "SELECT count(*) FROM "+f.marker).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

func TestNoTransactionInContext(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	if err := r.RunInTx(context.Background(), f.insert("k", "v")); !errors.Is(err, ErrNoTransaction) {
		t.Fatalf("RunInTx without a transaction: %v", err)
	}
}

// TestWorkAfterRestart runs work again for a transaction that a restarted
// process forgot: refused while the earlier work is prepared (the server
// refuses the gid) and once it is committed (the marker is there); the
// connections stay usable and the refused work is discarded.
func TestWorkAfterRestart(t *testing.T) {
	f := newFixture(t)
	ctx := testContext(t)
	id := newTxID(t)
	if err := f.newResource(t).run(ctx, id, soon(), f.insert("k1", id)); err != nil {
		t.Fatal(err)
	}
	restarted := f.newResource(t)
	if err := restarted.run(ctx, id, soon(), f.insert("k2", id)); !errors.Is(err, ErrWorkDone) {
		t.Fatalf("work while prepared before the restart: %v, want ErrWorkDone", err)
	}
	if v, err := restarted.Prepare(ctx, id); v != participant.VoteYes || err != nil {
		t.Fatalf("Prepare = %v, %v; want yes", v, err)
	}
	if err := restarted.Commit(ctx, id); err != nil {
		t.Fatal(err)
	}
	again := f.newResource(t)
	if err := again.run(ctx, id, soon(), f.insert("k3", id)); !errors.Is(err, ErrWorkDone) {
		t.Fatalf("work after the commit: %v, want ErrWorkDone", err)
	}
	if _, ok := f.value(t, "k1"); !ok {
		t.Error("the prepared work did not commit")
	}
	for _, k := range []string{"k2", "k3"} {
		if _, ok := f.value(t, k); ok {
			t.Errorf("refused work %s committed", k)
		}
	}
	if gids := f.preparedGIDs(t, ctx); len(gids) != 0 {
		t.Fatalf("left prepared: %v", gids)
	}
	// The pool's connections came back idle: new work prepares and commits.
	id2 := newTxID(t)
	if err := again.run(ctx, id2, soon(), f.insert("k4", id2)); err != nil {
		t.Fatal(err)
	}
	if err := again.Commit(ctx, id2); err != nil {
		t.Fatal(err)
	}
}

// MarkerExists, for an operator's tool, reads the Resource's marker rows:
// present for a committed transaction, absent for a rolled back one; a
// gone gid is told apart from other errors.
func TestMarkerExists(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)
	committed, aborted := newTxID(t), newTxID(t)
	for _, id := range []string{committed, aborted} {
		if err := r.run(ctx, id, soon(), f.insert("k-"+id, id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Commit(ctx, committed); err != nil {
		t.Fatal(err)
	}
	if err := r.Abort(ctx, aborted); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{committed: true, aborted: false} {
		gid := f.prefix + ":" + id + ":" + f.branch
		if got, err := MarkerExists(ctx, f.pool, f.marker, gid); got != want || err != nil {
			t.Errorf("MarkerExists(%s) = %v, %v; want %v", gid, got, err, want)
		}
		_, err := f.pool.Exec(ctx, "COMMIT PREPARED '"+gid+"'")
		if !IsGIDGone(err) {
			t.Errorf("COMMIT PREPARED of a resolved gid: %v; want one IsGIDGone knows", err)
		}
	}
	if IsGIDGone(nil) || IsGIDGone(ErrBadGID) {
		t.Error("IsGIDGone holds for an error that is no gone gid")
	}
	if _, err := MarkerExists(ctx, f.pool, "Bad Table", "g"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("MarkerExists with a bad table name: %v; want ErrInvalidConfig", err)
	}
}
