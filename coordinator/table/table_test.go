package table

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Fixed UUIDv7 txids, in sorting order.
const (
	tx1 = "01936b2a-0000-7000-8000-000000000001"
	tx2 = "01936b2a-0000-7000-8000-000000000002"
	tx3 = "01936b2a-0000-7000-8000-000000000003"
	tx4 = "01936b2a-0000-7000-8000-000000000004"
	tx5 = "01936b2a-0000-7000-8000-000000000005"
	tx6 = "01936b2a-0000-7000-8000-000000000006"
)

const (
	committed = verdictv1.Outcome_OUTCOME_COMMITTED
	aborted   = verdictv1.Outcome_OUTCOME_ABORTED

	stCommitted = verdictv1.TxState_TX_STATE_COMMITTED
	stAborted   = verdictv1.TxState_TX_STATE_ABORTED
	stAny       = verdictv1.TxState_TX_STATE_UNSPECIFIED
)

var invalid = Result{Reason: ReasonInvalidRecord}

// decision builds a Decision record. decided_unix_ms and deadline_unix_ms are
// derived from the reason's length so that records are told apart.
func decision(txid string, o verdictv1.Outcome, reason string, parts ...string) *logv1.LogRecord {
	d := &logv1.Decision{
		Txid:           txid,
		Outcome:        o,
		Reason:         reason,
		DecidedUnixMs:  1000 + int64(len(reason)),
		DeadlineUnixMs: 2000 + int64(len(reason)),
	}
	for _, p := range parts {
		d.Participants = append(d.Participants, &verdictv1.ParticipantRef{Name: p, Address: p + ":7000"})
	}
	return &logv1.LogRecord{Kind: &logv1.LogRecord_Decision{Decision: d}}
}

func done(ms int64, txids ...string) *logv1.LogRecord {
	return &logv1.LogRecord{Kind: &logv1.LogRecord_Done{Done: &logv1.Done{Txids: txids, DoneUnixMs: ms}}}
}

func batch(recs ...*logv1.LogRecord) *logv1.LogBatch {
	return &logv1.LogBatch{Records: recs}
}

// want builds the expected Transaction for a record made by decision().
func want(txid string, st verdictv1.TxState, reason string, doneMs int64, parts ...string) *verdictv1.Transaction {
	tx := &verdictv1.Transaction{
		Txid:           txid,
		State:          st,
		Reason:         reason,
		DecidedUnixMs:  1000 + int64(len(reason)),
		DeadlineUnixMs: 2000 + int64(len(reason)),
		Done:           doneMs != 0,
		DoneUnixMs:     doneMs,
	}
	for _, p := range parts {
		tx.Participants = append(tx.Participants, &verdictv1.ParticipantRef{Name: p, Address: p + ":7000"})
	}
	return tx
}

// stateCase is a table test of Table: batches applied in order to an
// empty Table, the Results each yields, then the whole table (sorted by
// txid) and its undone txids, also after a snapshot round trip.
type stateCase struct {
	name        string
	batches     []*logv1.LogBatch
	wantResults [][]Result
	wantTxs     []*verdictv1.Transaction
	wantUndone  []string
}

func runStateCases(t *testing.T, tests []stateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			for i, b := range tt.batches {
				got := s.ApplyBatch(b)
				if !slices.Equal(got, tt.wantResults[i]) {
					t.Errorf("batch %d: results = %v, want %v", i, got, tt.wantResults[i])
				}
			}
			checkTable(t, s, tt.wantTxs, tt.wantUndone)
			restored := snapshotCopy(t, s)
			checkTable(t, restored, tt.wantTxs, tt.wantUndone)
		})
	}
}

func TestStateApply(t *testing.T) {
	runStateCases(t, []stateCase{
		{
			name:        "empty batch",
			batches:     []*logv1.LogBatch{batch(), nil},
			wantResults: [][]Result{nil, nil},
		},
		{
			name:        "commit",
			batches:     []*logv1.LogBatch{batch(decision(tx1, committed, "", "a", "b"))},
			wantResults: [][]Result{{{Outcome: committed}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stCommitted, "", 0, "a", "b")},
			wantUndone:  []string{tx1},
		},
		{
			name: "commit then abort stays committed",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, committed, "", "a")),
				batch(decision(tx1, aborted, "timeout", "a", "b")),
			},
			wantResults: [][]Result{{{Outcome: committed}}, {{Outcome: committed}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stCommitted, "", 0, "a")},
			wantUndone:  []string{tx1},
		},
		{
			name: "abort then commit stays aborted",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, aborted, "vote no", "a")),
				batch(decision(tx1, committed, "", "a", "b")),
			},
			wantResults: [][]Result{{{aborted, "vote no"}}, {{aborted, "vote no"}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stAborted, "vote no", 0, "a")},
			wantUndone:  []string{tx1},
		},
		{
			name: "abort then commit in one batch stays aborted",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, aborted, "deadline", "a"), decision(tx1, committed, "", "a")),
			},
			wantResults: [][]Result{{{aborted, "deadline"}, {aborted, "deadline"}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stAborted, "deadline", 0, "a")},
			wantUndone:  []string{tx1},
		},
		{
			name: "repeated identical decision is a no-op",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, committed, "", "a"), decision(tx1, committed, "", "a")),
				batch(decision(tx1, committed, "", "a")),
			},
			wantResults: [][]Result{{{Outcome: committed}, {Outcome: committed}}, {{Outcome: committed}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stCommitted, "", 0, "a")},
			wantUndone:  []string{tx1},
		},
		{
			name: "same outcome with other details keeps the first",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, aborted, "x", "a"), decision(tx1, aborted, "longer reason", "b", "c")),
			},
			wantResults: [][]Result{{{aborted, "x"}, {aborted, "x"}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stAborted, "x", 0, "a")},
			wantUndone:  []string{tx1},
		},
		{
			name: "done marks done",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, committed, "", "a"), decision(tx2, aborted, "no", "a")),
				batch(done(5000, tx1)),
			},
			wantResults: [][]Result{{{Outcome: committed}, {aborted, "no"}}, {{}}},
			wantTxs: []*verdictv1.Transaction{
				want(tx1, stCommitted, "", 5000, "a"),
				want(tx2, stAborted, "no", 0, "a"),
			},
			wantUndone: []string{tx2},
		},
		{
			name: "done of several txids, unknown ones ignored",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, committed, "", "a"), decision(tx3, aborted, "no")),
				batch(done(5000, tx2, tx3, "", tx1, tx4)),
			},
			wantResults: [][]Result{{{Outcome: committed}, {aborted, "no"}}, {{}}},
			wantTxs: []*verdictv1.Transaction{
				want(tx1, stCommitted, "", 5000, "a"),
				want(tx3, stAborted, "no", 5000),
			},
		},
		{
			name: "done twice keeps the first done time",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, committed, "", "a"), done(5000, tx1)),
				batch(done(6000, tx1)),
			},
			wantResults: [][]Result{{{Outcome: committed}, {}}, {{}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stCommitted, "", 5000, "a")},
		},
		{
			name: "done before decision is ignored",
			batches: []*logv1.LogBatch{
				batch(done(5000, tx1)),
				batch(decision(tx1, committed, "", "a")),
			},
			wantResults: [][]Result{{{}}, {{Outcome: committed}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stCommitted, "", 0, "a")},
			wantUndone:  []string{tx1},
		},
		{
			name: "done before decision in one batch is ignored",
			batches: []*logv1.LogBatch{
				batch(done(5000, tx1), decision(tx1, aborted, "no", "a")),
			},
			wantResults: [][]Result{{{}, {aborted, "no"}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stAborted, "no", 0, "a")},
			wantUndone:  []string{tx1},
		},
		{
			name: "decision after done changes nothing",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, committed, "", "a"), done(5000, tx1)),
				batch(decision(tx1, aborted, "late abort", "a")),
			},
			wantResults: [][]Result{{{Outcome: committed}, {}}, {{Outcome: committed}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stCommitted, "", 5000, "a")},
		},
		{
			name: "invalid records are ignored",
			batches: []*logv1.LogBatch{
				batch(
					decision("", committed, "", "a"),
					decision(tx1, verdictv1.Outcome_OUTCOME_UNSPECIFIED, ""),
					decision(tx1, verdictv1.Outcome_OUTCOME_PENDING, ""),
					decision(tx1, verdictv1.Outcome_OUTCOME_EXPIRED, ""),
					decision(tx1, verdictv1.Outcome(99), ""),
					nil,
					&logv1.LogRecord{},
					&logv1.LogRecord{Kind: &logv1.LogRecord_Decision{}},
					&logv1.LogRecord{Kind: &logv1.LogRecord_Done{}},
				),
			},
			wantResults: [][]Result{{invalid, invalid, invalid, invalid, invalid, invalid, invalid, invalid, {}}},
		},
		{
			name: "invalid record does not block a later valid one",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, verdictv1.Outcome_OUTCOME_PENDING, ""), decision(tx1, aborted, "no")),
			},
			wantResults: [][]Result{{invalid, {aborted, "no"}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stAborted, "no", 0)},
			wantUndone:  []string{tx1},
		},
		{
			name: "undone is sorted by txid whatever the apply order",
			batches: []*logv1.LogBatch{
				batch(decision(tx5, committed, ""), decision(tx2, aborted, "n"), decision(tx4, committed, "")),
				batch(decision(tx1, aborted, "n"), decision(tx3, committed, ""), done(7, tx4)),
			},
			wantResults: [][]Result{
				{{Outcome: committed}, {aborted, "n"}, {Outcome: committed}},
				{{aborted, "n"}, {Outcome: committed}, {}},
			},
			wantTxs: []*verdictv1.Transaction{
				want(tx1, stAborted, "n", 0),
				want(tx2, stAborted, "n", 0),
				want(tx3, stCommitted, "", 0),
				want(tx4, stCommitted, "", 7),
				want(tx5, stCommitted, "", 0),
			},
			wantUndone: []string{tx1, tx2, tx3, tx5},
		},
	})
}

// checkTable checks s through Len, Get, Undone and List against the whole
// expected table (sorted by txid) and the expected undone txids.
func checkTable(t *testing.T, s *Table, wantTxs []*verdictv1.Transaction, wantUndone []string) {
	t.Helper()
	if s.Len() != len(wantTxs) {
		t.Errorf("Len() = %d, want %d", s.Len(), len(wantTxs))
	}
	for _, w := range wantTxs {
		got, ok := s.Get(w.GetTxid())
		if !ok || !proto.Equal(got, w) {
			t.Errorf("Get(%s) = %v, %v; want %v", w.GetTxid(), got, ok, w)
		}
	}
	if got, ok := s.Get(tx6); ok {
		t.Errorf("Get(%s) = %v, want absent", tx6, got)
	}
	if got, ok := s.Get(""); ok {
		t.Errorf("Get(\"\") = %v, want absent", got)
	}
	if got := txids(s.Undone()); !slices.Equal(got, wantUndone) {
		t.Errorf("Undone() = %v, want %v", got, wantUndone)
	}
	all, next := s.List(stAny, true, "", 0)
	if next != "" || !equalTxs(all, wantTxs) {
		t.Errorf("List(any, done) = %v, %q; want %v", all, next, wantTxs)
	}
	undone, next := s.List(stAny, false, "", 0)
	if next != "" || !slices.Equal(txids(undone), wantUndone) {
		t.Errorf("List(any, undone) = %v, %q; want %v", txids(undone), next, wantUndone)
	}
}

func txids(txs []*verdictv1.Transaction) []string {
	var ids []string
	for _, tx := range txs {
		ids = append(ids, tx.GetTxid())
	}
	return ids
}

func equalTxs(a, b []*verdictv1.Transaction) bool {
	return slices.EqualFunc(a, b, func(x, y *verdictv1.Transaction) bool { return proto.Equal(x, y) })
}

// listState holds tx1..tx6:
//
//	tx1 committed done, tx2 aborted, tx3 committed, tx4 aborted done,
//	tx5 committed, tx6 committed done.
func listState(t *testing.T) *Table {
	t.Helper()
	s := New()
	s.ApplyBatch(batch(
		decision(tx6, committed, ""), decision(tx3, committed, ""), decision(tx1, committed, ""),
		decision(tx5, committed, ""), decision(tx2, aborted, "a"), decision(tx4, aborted, "a"),
		done(9, tx1, tx4, tx6),
	))
	return s
}

func TestStateList(t *testing.T) {
	s := listState(t)
	tests := []struct {
		name        string
		state       verdictv1.TxState
		includeDone bool
		after       string
		limit       int
		want        []string
		wantNext    string
	}{
		{"all", stAny, true, "", 0, []string{tx1, tx2, tx3, tx4, tx5, tx6}, ""},
		{"undone", stAny, false, "", 0, []string{tx2, tx3, tx5}, ""},
		{"committed with done", stCommitted, true, "", 0, []string{tx1, tx3, tx5, tx6}, ""},
		{"committed undone", stCommitted, false, "", 0, []string{tx3, tx5}, ""},
		{"aborted with done", stAborted, true, "", 0, []string{tx2, tx4}, ""},
		{"aborted undone", stAborted, false, "", 0, []string{tx2}, ""},
		{"active matches nothing", verdictv1.TxState_TX_STATE_ACTIVE, true, "", 0, nil, ""},
		{"preparing matches nothing", verdictv1.TxState_TX_STATE_PREPARING, true, "", 0, nil, ""},
		{"unknown state matches nothing", verdictv1.TxState(42), true, "", 0, nil, ""},
		{"first page", stAny, true, "", 2, []string{tx1, tx2}, tx2},
		{"second page", stAny, true, tx2, 2, []string{tx3, tx4}, tx4},
		{"last page", stAny, true, tx4, 2, []string{tx5, tx6}, ""},
		{"after the end", stAny, true, tx6, 2, nil, ""},
		{"after sorts past everything", stAny, true, "ffffffff", 0, nil, ""},
		{"limit equals remaining", stAny, true, tx3, 3, []string{tx4, tx5, tx6}, ""},
		{"limit above remaining", stAny, true, tx3, 10, []string{tx4, tx5, tx6}, ""},
		{"after an absent txid", stAny, true, tx2 + "0", 0, []string{tx3, tx4, tx5, tx6}, ""},
		{"filtered page", stCommitted, true, tx1, 1, []string{tx3}, tx3},
		{"filtered undone page", stCommitted, false, tx3, 1, []string{tx5}, ""},
		{"negative limit is unbounded", stAny, false, "", -1, []string{tx2, tx3, tx5}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txs, next := s.List(tt.state, tt.includeDone, tt.after, tt.limit)
			if got := txids(txs); !slices.Equal(got, tt.want) || next != tt.wantNext {
				t.Errorf("List = %v, %q; want %v, %q", got, next, tt.want, tt.wantNext)
			}
			for _, tx := range txs {
				if g, _ := s.Get(tx.GetTxid()); !proto.Equal(g, tx) {
					t.Errorf("List item %v differs from Get %v", tx, g)
				}
			}
		})
	}
}

// TestStateListPaging pages through a large table with many page sizes and
// filters and checks the pages against a brute-force listing.
func TestStateListPaging(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := New()
	type row struct {
		txid      string
		committed bool
		done      bool
	}
	var rows []row
	var recs []*logv1.LogRecord
	for _, i := range rng.Perm(500) {
		r := row{
			txid:      fmt.Sprintf("01936b2a-%04x-7000-8000-%012x", i/7, rng.Uint64()&0xffffffffffff),
			committed: rng.IntN(2) == 0,
			done:      rng.IntN(3) == 0,
		}
		rows = append(rows, r)
		o := aborted
		if r.committed {
			o = committed
		}
		recs = append(recs, decision(r.txid, o, ""))
		if r.done {
			recs = append(recs, done(1, r.txid))
		}
	}
	s.ApplyBatch(batch(recs...))
	slices.SortFunc(rows, func(a, b row) int {
		if a.txid < b.txid {
			return -1
		}
		if a.txid > b.txid {
			return 1
		}
		return 0
	})
	for _, state := range []verdictv1.TxState{stAny, stCommitted, stAborted} {
		for _, includeDone := range []bool{false, true} {
			var wantIDs []string
			for _, r := range rows {
				if (!includeDone && r.done) ||
					(state == stCommitted && !r.committed) || (state == stAborted && r.committed) {
					continue
				}
				wantIDs = append(wantIDs, r.txid)
			}
			for _, limit := range []int{1, 2, 3, 7, 50, 499, 500, 1000} {
				var got []string
				after, pages := "", 0
				for {
					txs, next := s.List(state, includeDone, after, limit)
					if len(txs) > limit {
						t.Fatalf("page of %d, limit %d", len(txs), limit)
					}
					got = append(got, txids(txs)...)
					pages++
					if next == "" {
						break
					}
					if next != txs[len(txs)-1].GetTxid() {
						t.Fatalf("next = %q, want the last txid of the page", next)
					}
					after = next
				}
				if !slices.Equal(got, wantIDs) {
					t.Errorf("state %v done %v limit %d: paged %d ids, want %d", state, includeDone, limit, len(got), len(wantIDs))
				}
				if wantPages := max(1, (len(wantIDs)+limit-1)/limit); pages != wantPages {
					t.Errorf("state %v done %v limit %d: %d pages, want %d", state, includeDone, limit, pages, wantPages)
				}
			}
		}
	}
}

func TestStateGetReturnsCopy(t *testing.T) {
	s := New()
	s.ApplyBatch(batch(decision(tx1, committed, "", "a")))
	got, _ := s.Get(tx1)
	got.State = stAborted
	got.Participants[0].Name = "mutated"
	got.Participants = append(got.Participants, &verdictv1.ParticipantRef{Name: "x"})
	for _, txs := range [][]*verdictv1.Transaction{s.Undone(), first(s.List(stAny, true, "", 0))} {
		txs[0].Participants[0].Address = "mutated"
	}
	again, _ := s.Get(tx1)
	if w := want(tx1, stCommitted, "", 0, "a"); !proto.Equal(again, w) {
		t.Errorf("after mutating copies, Get = %v, want %v", again, w)
	}
}

func first[A, B any](a A, _ B) A { return a }

// stateOf builds a state from one decision per txid (tx2 and tx4 aborted,
// the others committed, all with participants p1 and p2), applied in the
// given order, then marks tx1 and tx4 done. The table must not depend on the
// order.
func stateOf(t *testing.T, order ...string) *Table {
	t.Helper()
	s := New()
	for _, txid := range order {
		o := committed
		if txid == tx2 || txid == tx4 {
			o = aborted
		}
		s.ApplyBatch(batch(decision(txid, o, "r"+txid, "p1", "p2")))
	}
	s.ApplyBatch(batch(done(42, tx1, tx4)))
	return s
}

func TestStateSnapshotRoundTrip(t *testing.T) {
	s := stateOf(t, tx1, tx2, tx3, tx4, tx5)
	data, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	// Deterministic bytes: a table built in another order snapshots equal.
	other, err := stateOf(t, tx5, tx3, tx1, tx4, tx2).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, other) {
		t.Error("snapshots of equal tables built in different orders differ")
	}

	r := New()
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	assertSameState(t, r, s)
	again, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Error("snapshot after restore differs from the restored one")
	}

	// The restored state keeps applying the rules.
	res := r.ApplyBatch(batch(
		decision(tx3, aborted, "late"), // tx3 was committed
		decision(tx2, committed, ""),   // tx2 was aborted
		done(50, tx3, tx1),             // tx1 was done at 42
	))
	if w := []Result{{Outcome: committed, Reason: "r" + tx3}, {Outcome: aborted, Reason: "r" + tx2}, {}}; !slices.Equal(res, w) {
		t.Errorf("results after restore = %v, want %v", res, w)
	}
	if got := txids(r.Undone()); !slices.Equal(got, []string{tx2, tx5}) {
		t.Errorf("Undone after restore and done = %v", got)
	}
	if tx, _ := r.Get(tx1); tx.GetDoneUnixMs() != 42 {
		t.Errorf("done time of tx1 = %d, want 42", tx.GetDoneUnixMs())
	}
}

// assertSameState checks that a and b answer every reader identically.
func assertSameState(t *testing.T, a, b *Table) {
	t.Helper()
	if a.Len() != b.Len() {
		t.Errorf("Len %d != %d", a.Len(), b.Len())
	}
	for _, txid := range []string{tx1, tx2, tx3, tx4, tx5, tx6} {
		ga, oka := a.Get(txid)
		gb, okb := b.Get(txid)
		if oka != okb || !proto.Equal(ga, gb) {
			t.Errorf("Get(%s): %v %v != %v %v", txid, ga, oka, gb, okb)
		}
	}
	if !equalTxs(a.Undone(), b.Undone()) {
		t.Errorf("Undone differs: %v != %v", a.Undone(), b.Undone())
	}
	for _, st := range []verdictv1.TxState{stAny, stCommitted, stAborted} {
		for _, includeDone := range []bool{false, true} {
			la, na := a.List(st, includeDone, "", 0)
			lb, nb := b.List(st, includeDone, "", 0)
			if na != nb || !equalTxs(la, lb) {
				t.Errorf("List(%v, %v) differs: %v != %v", st, includeDone, la, lb)
			}
		}
	}
}

func TestStateSnapshotEmpty(t *testing.T) {
	data, err := New().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 0 {
		t.Errorf("empty state snapshot = %x, want no bytes", data)
	}
}

func TestStateRestoreReplaces(t *testing.T) {
	src := New()
	src.ApplyBatch(batch(decision(tx5, aborted, "no", "q")))
	data, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}

	if err := New().Restore(data); err != nil {
		t.Fatalf("Restore of a good snapshot into a fresh table: %v", err)
	}
	s := stateOf(t, tx1, tx2, tx3)
	if err := s.Restore(data); err != nil {
		t.Fatal(err)
	}
	checkTable(t, s, []*verdictv1.Transaction{want(tx5, stAborted, "no", 0, "q")}, []string{tx5})

	for _, empty := range [][]byte{nil, {}} {
		s := stateOf(t, tx1, tx2, tx3)
		if err := s.Restore(empty); err != nil {
			t.Fatalf("Restore(%v): %v", empty, err)
		}
		checkTable(t, s, nil, nil)
		// Still usable.
		s.ApplyBatch(batch(decision(tx1, aborted, "")))
		checkTable(t, s, []*verdictv1.Transaction{want(tx1, stAborted, "", 0)}, []string{tx1})
	}
}

func TestStateRestoreBadData(t *testing.T) {
	snap := func(txs ...*verdictv1.Transaction) []byte {
		data, err := proto.Marshal(&logv1.StateSnapshot{Transactions: txs})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	ok := &verdictv1.Transaction{Txid: tx1, State: stCommitted}
	tests := []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("this is not a protobuf \xff\xff\xff")},
		{"truncated", snap(ok, &verdictv1.Transaction{Txid: tx2, State: stAborted, Reason: "some reason"})[:20]},
		{"empty txid", snap(ok, &verdictv1.Transaction{State: stAborted})},
		{"duplicate txid", snap(ok, &verdictv1.Transaction{Txid: tx1, State: stAborted})},
		{"unspecified state", snap(ok, &verdictv1.Transaction{Txid: tx2})},
		{"active state", snap(ok, &verdictv1.Transaction{Txid: tx2, State: verdictv1.TxState_TX_STATE_ACTIVE})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stateOf(t, tx1, tx2, tx3)
			before, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			// The node checks a snapshot a peer sends, by restoring it
			// into a fresh table, before it persists it.
			if err := New().Restore(tt.data); !errors.Is(err, ErrBadSnapshot) {
				t.Errorf("Restore into a fresh table = %v, want ErrBadSnapshot", err)
			}
			err = s.Restore(tt.data)
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore = %v, want ErrBadSnapshot", err)
			}
			// The old state is untouched.
			after, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("failed Restore changed the state")
			}
			assertSameState(t, s, stateOf(t, tx1, tx2, tx3))
		})
	}
}

func TestStateRestoreDropsLeaderOnlyFields(t *testing.T) {
	data, err := proto.Marshal(&logv1.StateSnapshot{Transactions: []*verdictv1.Transaction{{
		Txid: tx1, State: stCommitted, Acked: []string{"a"}, LastError: "boom",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	s := New()
	if err := s.Restore(data); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(tx1)
	if w := (&verdictv1.Transaction{Txid: tx1, State: stCommitted}); !proto.Equal(got, w) {
		t.Errorf("Get = %v, want %v", got, w)
	}
}

// BenchmarkStateApply measures applying batches of fresh decisions followed
// by their DONE records, the steady state of a busy coordinator.
func BenchmarkStateApply(b *testing.B) {
	const perBatch = 64
	s := New()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		recs := make([]*logv1.LogRecord, 0, perBatch+1)
		ids := make([]string, 0, perBatch)
		for range perBatch {
			txid := fmt.Sprintf("01936b2a-0000-7000-8000-%012x", n)
			n++
			ids = append(ids, txid)
			recs = append(recs, decision(txid, committed, "", "a", "b"))
		}
		recs = append(recs, done(1, ids...))
		s.ApplyBatch(batch(recs...))
	}
}

// TestStaleCommitIgnored: a COMMIT decided in one term and appended in an
// entry of another is ignored; an ABORT is not, and neither is a COMMIT of
// the entry's own term or one that names no term.
func TestStaleCommitIgnored(t *testing.T) {
	s := New()
	stale := decision(tx1, verdictv1.Outcome_OUTCOME_COMMITTED, "", "p1")
	stale.GetDecision().Term = 3
	if res := s.ApplyEntry(4, batch(stale)); res[0].Outcome != verdictv1.Outcome_OUTCOME_UNSPECIFIED || res[0].Reason != ReasonStaleCommit {
		t.Fatalf("stale commit: %+v, want ignored", res[0])
	}
	if _, ok := s.Get(tx1); ok {
		t.Fatal("stale commit recorded")
	}
	abort := decision(tx1, verdictv1.Outcome_OUTCOME_ABORTED, "presumed", "p1")
	abort.GetDecision().Term = 3
	if res := s.ApplyEntry(4, batch(abort)); res[0].Outcome != verdictv1.Outcome_OUTCOME_ABORTED {
		t.Fatalf("abort from another term: %+v, want recorded", res[0])
	}
	fresh := decision(tx2, verdictv1.Outcome_OUTCOME_COMMITTED, "", "p1")
	fresh.GetDecision().Term = 4
	if res := s.ApplyEntry(4, batch(fresh)); res[0].Outcome != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("commit of the entry's term: %+v, want recorded", res[0])
	}
	untermed := decision(tx3, verdictv1.Outcome_OUTCOME_COMMITTED, "", "p1")
	if res := s.ApplyEntry(9, batch(untermed)); res[0].Outcome != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("commit without a term: %+v, want recorded", res[0])
	}
}

// onePhaseDone builds a Done record of one-phase commits, each at
// participant "a", decided at ms.
func onePhaseDone(ms int64, txids ...string) *logv1.LogRecord {
	d := &logv1.Done{DoneUnixMs: ms}
	for _, id := range txids {
		d.OnePhase = append(d.OnePhase, &logv1.OnePhase{Txid: id, Participant: &verdictv1.ParticipantRef{Name: "a", Address: "a:7000"}, DecidedUnixMs: ms - 1})
	}
	return &logv1.LogRecord{Kind: &logv1.LogRecord_Done{Done: d}}
}

// onePhaseWant is what Table holds for a one-phase commit recorded at ms.
func onePhaseWant(txid string, ms int64) *verdictv1.Transaction {
	return &verdictv1.Transaction{
		Txid: txid, State: stCommitted, Done: true, DoneUnixMs: ms, DecidedUnixMs: ms - 1,
		Reason:       ReasonOnePhase,
		Participants: []*verdictv1.ParticipantRef{{Name: "a", Address: "a:7000"}},
	}
}

func TestStateOnePhase(t *testing.T) {
	runStateCases(t, []stateCase{
		{
			name:        "recorded as committed and done",
			batches:     []*logv1.LogBatch{batch(onePhaseDone(50, tx1, tx2))},
			wantResults: [][]Result{{{}}},
			wantTxs:     []*verdictv1.Transaction{onePhaseWant(tx1, 50), onePhaseWant(tx2, 50)},
		},
		{
			name: "a decided txid keeps its decision",
			batches: []*logv1.LogBatch{
				batch(decision(tx1, aborted, "no", "a")),
				batch(onePhaseDone(50, tx1)),
			},
			wantResults: [][]Result{{{Outcome: aborted, Reason: "no"}}, {{}}},
			wantTxs:     []*verdictv1.Transaction{want(tx1, stAborted, "no", 0, "a")},
			wantUndone:  []string{tx1},
		},
		{
			name: "recorded twice keeps the first",
			batches: []*logv1.LogBatch{
				batch(onePhaseDone(50, tx1)),
				batch(onePhaseDone(60, tx1)),
			},
			wantResults: [][]Result{{{}}, {{}}},
			wantTxs:     []*verdictv1.Transaction{onePhaseWant(tx1, 50)},
		},
		{
			name: "malformed entries are ignored",
			batches: []*logv1.LogBatch{batch(&logv1.LogRecord{Kind: &logv1.LogRecord_Done{Done: &logv1.Done{
				OnePhase: []*logv1.OnePhase{nil, {Txid: ""}, {Txid: tx1}},
			}}})},
			wantResults: [][]Result{{{}}},
		},
		{
			name: "pruned like any done transaction",
			batches: []*logv1.LogBatch{
				batch(onePhaseDone(50, tx1)),
				batch(&logv1.LogRecord{Kind: &logv1.LogRecord_Prune{Prune: &logv1.Prune{BeforeUnixMs: createdMs(tx1) + 1}}}),
			},
			wantResults: [][]Result{{{}}, {{}}},
		},
	})
}

// The state hash depends on the records alone: a checkpoint changes
// nothing, a table restored from a snapshot hashes alike, and a record
// more changes it.
func TestHashDeterministic(t *testing.T) {
	a, b := New(), New()
	for _, tb := range []*Table{a, b} {
		tb.ApplyBatch(batch(decision(tx5, aborted, "no", "q")))
		tb.ApplyBatch(&logv1.LogBatch{Records: []*logv1.LogRecord{{Kind: &logv1.LogRecord_Checkpoint{Checkpoint: &logv1.Checkpoint{}}}}})
	}
	ha, err := a.Hash()
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := b.Hash()
	data, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	c := New()
	if err := c.Restore(data); err != nil {
		t.Fatal(err)
	}
	hc, _ := c.Hash()
	if ha != hb || ha != hc {
		t.Fatalf("hashes differ: %x %x %x", ha, hb, hc)
	}
	b.ApplyBatch(batch(decision(tx1, committed, "", "p")))
	if hb, _ = b.Hash(); hb == ha {
		t.Fatal("a decision more left the hash unchanged")
	}
}

// A snapshot whose content does not match the hash it carries is refused
// before anything changes.
func TestRestoreRefusesCorruptSnapshot(t *testing.T) {
	src := New()
	src.ApplyBatch(batch(decision(tx5, aborted, "no", "q")))
	data, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var snap logv1.StateSnapshot
	if err := proto.Unmarshal(data, &snap); err != nil {
		t.Fatal(err)
	}
	snap.Transactions[0].Reason = "changed on the way" // still a valid snapshot, but not the one hashed
	bad, err := proto.MarshalOptions{Deterministic: true}.Marshal(&snap)
	if err != nil {
		t.Fatal(err)
	}
	dst := New()
	dst.ApplyBatch(batch(decision(tx1, committed, "", "p")))
	before, _ := dst.Hash()
	if err := dst.Restore(bad); !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), "state hash") {
		t.Fatalf("restore of a corrupted snapshot: %v, want ErrBadSnapshot about the hash", err)
	}
	if after, _ := dst.Hash(); after != before {
		t.Fatal("a refused snapshot changed the state")
	}
}

// A snapshot, hash included, is the deterministic encoding of the whole:
// marshaling the decoded snapshot gives the same bytes, with and without
// members marked diverged.
func TestSnapshotHashFieldIsCanonical(t *testing.T) {
	for _, marked := range []bool{false, true} {
		src := New()
		src.ApplyBatch(batch(decision(tx5, aborted, "no", "q")))
		if marked {
			src.ApplyBatch(&logv1.LogBatch{Records: []*logv1.LogRecord{{Kind: &logv1.LogRecord_Divergence{Divergence: &logv1.Divergence{Node: 3, SinceIndex: 9}}}}})
		}
		data, err := src.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var snap logv1.StateSnapshot
		if err := proto.Unmarshal(data, &snap); err != nil {
			t.Fatal(err)
		}
		if len(snap.GetStateSha256()) != 32 || len(snap.GetDiverged()) != map[bool]int{false: 0, true: 1}[marked] {
			t.Fatalf("marked %v: state_sha256 = %x, diverged %v", marked, snap.GetStateSha256(), snap.GetDiverged())
		}
		again, err := proto.MarshalOptions{Deterministic: true}.Marshal(&snap)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("marked %v: re-marshaled snapshot differs (%v)", marked, err)
		}
		if err := New().Restore(data); err != nil {
			t.Fatalf("marked %v: %v", marked, err)
		}
	}
	fd := (&logv1.StateSnapshot{}).ProtoReflect().Descriptor().Fields().ByNumber(stateHashField)
	if fd == nil || fd.Name() != "state_sha256" {
		t.Fatal("stateHashField is not state_sha256's number")
	}
}
