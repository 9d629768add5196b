package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/verdict-tx/verdict/participant"
)

// TestWorkTxFirstUses runs work whose first use of the transaction is each
// of the ways a pgx.Tx can be used: every one runs inside the transaction
// (its write is prepared, then committed, and its reads see the
// transaction's own writes), whether BEGIN went in one pipeline with it or
// ahead of it.
func TestWorkTxFirstUses(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)
	ins := "INSERT INTO " + f.table + " (k, v) VALUES ($1, $2)"
	count := func(tx pgx.Tx, key string) (int, error) {
		var n int
		err := tx.QueryRow(ctx, "SELECT count(*) FROM "+f.table+" WHERE k = $1", key).Scan(&n)
		return n, err
	}
	cases := []struct {
		name string
		work func(tx pgx.Tx, key string) error
	}{
		{"exec with arguments", func(tx pgx.Tx, key string) error {
			_, err := tx.Exec(ctx, ins, key, "v")
			return err
		}},
		{"exec without arguments", func(tx pgx.Tx, key string) error {
			_, err := tx.Exec(ctx, "INSERT INTO "+f.table+" (k, v) VALUES ('"+key+"', 'v')")
			return err
		}},
		{"query first, then exec", func(tx pgx.Tx, key string) error {
			rows, err := tx.Query(ctx, "SELECT k FROM "+f.table+" WHERE k = $1", key)
			if err != nil {
				return err
			}
			keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil || len(keys) != 0 {
				return errors.Join(err, errors.New("unexpected rows"))
			}
			_, err = tx.Exec(ctx, ins, key, "v")
			return err
		}},
		{"query row first, no rows", func(tx pgx.Tx, key string) error {
			var v string
			if err := tx.QueryRow(ctx, "SELECT v FROM "+f.table+" WHERE k = $1", key).Scan(&v); !errors.Is(err, pgx.ErrNoRows) {
				return errors.Join(err, errors.New("want ErrNoRows"))
			}
			_, err := tx.Exec(ctx, ins, key, "v")
			return err
		}},
		{"query closed early", func(tx pgx.Tx, key string) error {
			rows, err := tx.Query(ctx, "SELECT generate_series(1, $1::int)", 10)
			if err != nil {
				return err
			}
			rows.Next()
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, ins, key, "v")
			return err
		}},
		{"batch", func(tx pgx.Tx, key string) error {
			b := &pgx.Batch{}
			b.Queue(ins, key, "v")
			return tx.SendBatch(ctx, b).Close()
		}},
		{"savepoint", func(tx pgx.Tx, key string) error {
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := sp.Exec(ctx, ins, key, "v"); err != nil {
				return err
			}
			return sp.Commit(ctx)
		}},
		{"conn", func(tx pgx.Tx, key string) error {
			_, err := tx.Conn().Exec(ctx, ins, key, "v")
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := newTxID(t)
			key := "k-" + id
			err := r.run(ctx, id, soon(), func(tx pgx.Tx) error {
				if err := tc.work(tx, key); err != nil {
					return err
				}
				// The transaction sees its own write.
				if n, err := count(tx, key); err != nil || n != 1 {
					return errors.Join(err, errors.New("the work's write is not visible to it"))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := f.value(t, key); ok {
				t.Fatal("the work committed before Commit: it ran outside the transaction")
			}
			if v, err := r.Prepare(ctx, id); v != participant.VoteYes || err != nil {
				t.Fatalf("Prepare = %v, %v; want yes", v, err)
			}
			if err := r.Commit(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, ok := f.value(t, key); !ok {
				t.Fatal("the work did not commit")
			}
		})
	}
}

// TestWorkTxNothingRun: work that runs nothing votes read-only and leaves
// the connection idle; a failed first statement (sent with BEGIN) fails
// the work and leaves nothing prepared.
func TestWorkTxNothingRunAndFirstStatementFails(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)
	id := newTxID(t)
	if err := r.run(ctx, id, soon(), func(pgx.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Prepare(ctx, id); v != participant.VoteReadOnly || err != nil {
		t.Fatalf("Prepare = %v, %v; want read-only", v, err)
	}

	id2 := newTxID(t)
	err := r.run(ctx, id2, soon(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO no_such_table_"+f.table+" VALUES ($1)", 1)
		return err
	})
	if err == nil {
		t.Fatal("work on a missing table succeeded")
	}
	if v, _ := r.Prepare(ctx, id2); v != participant.VoteNo {
		t.Fatalf("Prepare after a failed statement = %v, want no", v)
	}
	if gids := f.preparedGIDs(t, ctx); len(gids) != 0 {
		t.Fatalf("left prepared: %v", gids)
	}
	// The pool's connections are still good.
	id3 := newTxID(t)
	if err := r.run(ctx, id3, soon(), f.insert("k3", id3)); err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(ctx, id3); err != nil {
		t.Fatal(err)
	}
}

// TestWorkTxEndsNothing: the work cannot commit or roll back the
// transaction it was given, before or after its first statement.
func TestWorkTxEndsNothing(t *testing.T) {
	f := newFixture(t)
	r := f.newResource(t)
	ctx := testContext(t)
	err := r.run(ctx, newTxID(t), soon(), func(tx pgx.Tx) error {
		if err := tx.Rollback(ctx); !errors.Is(err, ErrTxControl) {
			t.Errorf("Rollback before any statement: %v", err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+f.table+" (k, v) VALUES ($1, $2)", "k", "v"); err != nil {
			return err
		}
		return tx.Commit(context.Background())
	})
	if !errors.Is(err, ErrTxControl) {
		t.Fatalf("Commit in the work: %v, want ErrTxControl", err)
	}
	if gids := f.preparedGIDs(t, ctx); len(gids) != 0 {
		t.Fatalf("left prepared: %v", gids)
	}
}
