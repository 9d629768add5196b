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
	pool := pgtest.NewDatabase(t, ctx, "verdictctl_pg", 2)
	if _, err := pool.Exec(ctx, "CREATE TABLE marks (gid text)"); err != nil {
		t.Fatal(err)
	}
	addr := startNode(t)
	ep := "--endpoints=" + addr

	// A committed transaction (the benchmark's), an active one, and one the
	// coordinator never heard of (presumed aborted).
	if code, _, errs := ctl(t, "bench", ep, "--duration", "200ms", "--min-commits", "1", "--max-duration", "1m", "--warmup", "0s", "--concurrency", "2"); code != exitOK {
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
	if len(rep.Prepared) != len(want) || rep.Database != pool.Config().ConnConfig.Database {
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

// A prepared transaction that vanishes between the listing and --resolve
// is told apart by its marker row: ended as the coordinator decided, it is
// resolved ("already ..."); ended the other way, it is a heuristic
// outcome, reported and left.
func TestPgPreparedGoneMeanwhile(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDatabase(t, ctx, "verdictctl_pg_gone", 2)
	if _, err := pool.Exec(ctx, "CREATE TABLE marks (gid text)"); err != nil {
		t.Fatal(err)
	}
	// Per gid: the coordinator's outcome, and what someone else did to it
	// after the listing ("" nothing).
	cases := map[string]struct{ outcome, action, meanwhile, word, heuristic string }{
		"lost":      {"committed", pgCommit, "ROLLBACK", "heuristic: rolled back by someone else", "rolled back"},
		"committed": {"committed", pgCommit, "COMMIT", "already committed", ""},
		"leaked":    {"aborted", pgRollback, "COMMIT", "heuristic: committed by someone else", "committed"},
		"aborted":   {"aborted", pgRollback, "ROLLBACK", "already rolled back", ""},
		"untouched": {"committed", pgCommit, "", "committed", ""},
	}
	gids := map[string]string{}
	for branch := range cases {
		id, err := txid.New()
		if err != nil {
			t.Fatal(err)
		}
		gids[branch] = "verdict:" + id + ":" + branch
		prepare(t, pool, gids[branch])
	}
	conn, err := pgx.Connect(ctx, dsnOf(pool))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	e := &env{globals: builtinGlobals(), ctx: ctx}
	rep, err := listPrepared(e, conn, "verdict")
	if err != nil || len(rep.Prepared) != len(cases) {
		t.Fatalf("listPrepared = %+v, %v; want %d", rep, err, len(cases))
	}
	for i := range rep.Prepared {
		p := &rep.Prepared[i]
		c := cases[p.Branch]
		p.Outcome, p.Action = c.outcome, c.action
		if c.meanwhile != "" {
			if _, err := pool.Exec(ctx, c.meanwhile+" PREPARED '"+p.GID+"'"); err != nil {
				t.Fatal(err)
			}
		}
	}

	applyOutcomes(e, conn, "marks", rep)
	if rep.Resolved != 3 || rep.Left != 2 || rep.Heuristic != 2 {
		t.Errorf("resolved %d, left %d, heuristic %d; want 3, 2, 2", rep.Resolved, rep.Left, rep.Heuristic)
	}
	for _, p := range rep.Prepared {
		c := cases[p.Branch]
		if got := resolvedWord(p); got != c.word || p.Heuristic != c.heuristic || p.Gone != (c.meanwhile != "") || p.Applied != (c.heuristic == "") {
			t.Errorf("%s: %q %+v; want %q, heuristic %q", p.Branch, got, p, c.word, c.heuristic)
		}
		if c.heuristic != "" && !strings.Contains(p.Note, "repair the data by hand") {
			t.Errorf("%s: note %q does not ask for a repair", p.Branch, p.Note)
		}
	}
	var out strings.Builder
	printPrepared(&out, rep, true)
	if !strings.Contains(out.String(), "heuristic: rolled back by someone else") || !strings.Contains(out.String(), "HEURISTIC OUTCOMES: 2") {
		t.Errorf("pg prepared --resolve output hides the heuristic outcomes:\n%s", out.String())
	}

	if code, _, errs := ctl(t, "pg", "prepared", "--dsn", dsnOf(pool), "--marker-table", "Marks;"); code != exitUsage || !strings.Contains(errs, "--marker-table") {
		t.Errorf("a bad --marker-table: exit %d (%s); want %d", code, errs, exitUsage)
	}
}
