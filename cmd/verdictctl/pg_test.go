package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/verdict-tx/verdict/internal/pgtest"
	"github.com/verdict-tx/verdict/internal/txid"
)

// dsnOf is a connection string to the database of pool.
func dsnOf(pool *pgxpool.Pool) string {
	cc := pool.Config().ConnConfig
	u := url.URL{Scheme: "postgres", Host: fmt.Sprintf("%s:%d", cc.Host, cc.Port), Path: "/" + cc.Database, RawQuery: "sslmode=disable"}
	u.User = url.User(cc.User)
	if cc.Password != "" {
		u.User = url.UserPassword(cc.User, cc.Password)
	}
	return u.String()
}

// prepare leaves a prepared transaction with gid in the database, which
// inserted gid into marks.
func prepare(t *testing.T, pool *pgxpool.Pool, gid string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, sql := range []string{"BEGIN", "INSERT INTO marks VALUES ('" + gid + "')", "PREPARE TRANSACTION '" + gid + "'"} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

func TestPgPrepared(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.FreshDB(t, ctx, "verdictctl_pg", 2)
	t.Cleanup(func() { // roll back what the test leaves prepared
		rows, _ := pool.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")
		gids, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, g := range gids {
			_, _ = pool.Exec(ctx, "ROLLBACK PREPARED '"+g+"'")
		}
	})
	if _, err := pool.Exec(ctx, "CREATE TABLE marks (gid text)"); err != nil {
		t.Fatal(err)
	}
	addr := startNode(t)
	ep := "--endpoints=" + addr

	// A committed transaction (the benchmark's), an active one, and one the
	// coordinator never heard of (presumed aborted).
	if code, _, errs := ctl(t, "bench", ep, "--duration", "200ms", "--warmup", "0s", "--concurrency", "2"); code != exitOK {
		t.Fatalf("bench: exit %d: %s", code, errs)
	}
	code, out, errs := ctl(t, "tx", "list", ep, "--all", "--state", "committed", "--limit", "1", "-o", "json")
	var list struct {
		Transactions []struct{ Txid string } `json:"transactions"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &list) != nil || len(list.Transactions) != 1 {
		t.Fatalf("tx list: exit %d, out %s, err %s", code, out, errs)
	}
	committed := list.Transactions[0].Txid
	pending := begin(t, coordinatorClient(t, addr))
	unknown, err := txid.New()
	if err != nil {
		t.Fatal(err)
	}
	gids := map[string]string{
		"committed": "verdict:" + committed + ":orders",
		"pending":   "verdict:" + pending + ":orders",
		"unknown":   "verdict:" + unknown + ":stock",
		"garbage":   "verdict:not-a-txid",
	}
	for _, g := range gids {
		prepare(t, pool, g)
	}
	other := "other:" + unknown + ":orders" // another prefix: not Verdict's
	prepare(t, pool, other)
	dsn := dsnOf(pool)

	code, out, errs = ctl(t, "pg", "prepared", ep, "--dsn", dsn, "-o", "json")
	if code != exitOK {
		t.Fatalf("pg prepared: exit %d: %s", code, errs)
	}
	var rep pgReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("pg prepared json: %v: %s", err, out)
	}
	want := map[string]struct{ outcome, action, branch string }{
		gids["committed"]: {"committed", pgCommit, "orders"},
		gids["pending"]:   {"pending", pgLeave, "orders"},
		gids["unknown"]:   {"aborted", pgRollback, "stock"},
		gids["garbage"]:   {"unknown", pgLeave, ""},
	}
	if len(rep.Prepared) != len(want) || rep.Database != "verdictctl_pg" {
		t.Fatalf("pg prepared = %+v; want the %d gids of prefix verdict", rep, len(want))
	}
	for _, p := range rep.Prepared {
		w, ok := want[p.GID]
		if !ok || p.Outcome != w.outcome || p.Action != w.action || p.Branch != w.branch || p.Applied || p.PreparedAt.IsZero() {
			t.Errorf("%s: %+v; want %+v", p.GID, p, w)
		}
		if p.Action == pgLeave && p.Note == "" {
			t.Errorf("%s is left without a note", p.GID)
		}
	}

	code, out, errs = ctl(t, "pg", "prepared", ep, "--dsn", dsn, "--resolve")
	if code != exitPartial || !strings.Contains(out, "Resolved 2, left 2") || !strings.Contains(out, "still active") {
		t.Fatalf("pg prepared --resolve: exit %d, out %s, err %s; want %d, 2 resolved, 2 left", code, out, errs, exitPartial)
	}
	rows, err := pool.Query(ctx, "SELECT gid FROM marks ORDER BY gid")
	if err != nil {
		t.Fatal(err)
	}
	marks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || !slices.Equal(marks, []string{gids["committed"]}) {
		t.Errorf("rows committed = %v, %v; want only the committed transaction's", marks, err)
	}
	rows, err = pool.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() ORDER BY gid")
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	wantLeft := []string{other, gids["garbage"], gids["pending"]}
	slices.Sort(wantLeft)
	if err != nil || !slices.Equal(left, wantLeft) {
		t.Errorf("still prepared: %v, %v; want %v", left, err, wantLeft)
	}
}
