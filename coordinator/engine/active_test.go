package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// TestActivePhases walks a transaction through the leader's phases: enlist
// and stage only while active, Commit starts once, an abort request while
// preparing is recorded once, and decided is final.
func TestActivePhases(t *testing.T) {
	a := newActiveTable()
	now := time.Unix(1000, 0)
	l := txLimits{now: now, maxParts: 4, maxAddresses: 8, admit: func(string) bool { return true }, maxStagedBytes: 1 << 20, messagesOn: true}
	tx := &activeTx{id: "tx1", deadline: now.Add(time.Minute), client: "c", parts: map[string]*verdictv1.ParticipantRef{}, decided: make(chan struct{})}
	if err := a.add(tx, 1); err != nil {
		t.Fatalf("add refused: %v", err)
	}
	p1 := &verdictv1.ParticipantRef{Name: "p1", Address: "127.0.0.1:1"}
	if added, _, err := a.enlist(tx, p1, false, l); !added || err != nil {
		t.Fatalf("enlist: %v %v", added, err)
	}
	if added, _, err := a.enlist(tx, p1, false, l); added || err != nil {
		t.Fatalf("enlist again: %v %v, want no change and no error", added, err)
	}
	msgs := []*verdictv1.StagedMessage{{Subject: "s"}}
	if n, err := a.stage(tx, msgs, stagedSize(msgs), l); n != 1 || err != nil {
		t.Fatalf("stage: %d %v", n, err)
	}
	if got := a.state(tx); got != verdictv1.TxState_TX_STATE_ACTIVE {
		t.Fatalf("state %v, want ACTIVE", got)
	}

	if cs := a.startCommit(tx, nil, nil, l); !cs.start || cs.refuse != "" || cs.nparts != 1 {
		t.Fatalf("startCommit: %+v", cs)
	}
	if cs := a.startCommit(tx, nil, nil, l); cs.start || cs.refuse != "" {
		t.Fatalf("second startCommit: %+v, want nothing started", cs)
	}
	if got := a.state(tx); got != verdictv1.TxState_TX_STATE_PREPARING {
		t.Fatalf("state %v, want PREPARING", got)
	}
	p2 := &verdictv1.ParticipantRef{Name: "p2", Address: "127.0.0.1:2"}
	if _, _, err := a.enlist(tx, p2, false, l); err == nil {
		t.Fatal("enlist while preparing accepted")
	}
	if _, err := a.stage(tx, msgs, stagedSize(msgs), l); err == nil {
		t.Fatal("stage while preparing accepted")
	}
	if _, ok := a.claimAbort(tx); ok {
		t.Fatal("abort claimed a preparing transaction")
	}
	if preparing, first := a.requestAbort(tx, "stop"); !preparing || !first {
		t.Fatalf("requestAbort: %v %v", preparing, first)
	}
	if preparing, first := a.requestAbort(tx, "again"); !preparing || first {
		t.Fatalf("second requestAbort: %v %v, want not first", preparing, first)
	}
	if got := a.abortRequest(tx); got != "stop" {
		t.Fatalf("abort request %q, want the first", got)
	}

	if !a.finish(tx, verdictv1.Outcome_OUTCOME_ABORTED, "stop", now) {
		t.Fatal("finish refused")
	}
	if got := a.state(tx); got != verdictv1.TxState_TX_STATE_ABORTED {
		t.Fatalf("state %v, want ABORTED", got)
	}
	if cs := a.startCommit(tx, nil, nil, l); cs.start || cs.refuse != "" {
		t.Fatalf("startCommit after the decision: %+v", cs)
	}
	if a.finish(tx, verdictv1.Outcome_OUTCOME_COMMITTED, "", now) {
		t.Fatal("a decided transaction was finished again")
	}
}

// TestActiveRefusedCommitStaysActive checks that a refused Commit leaves
// the transaction active, for the abort that follows to claim.
func TestActiveRefusedCommitStaysActive(t *testing.T) {
	a := newActiveTable()
	now := time.Unix(1000, 0)
	l := txLimits{now: now, maxParts: 4, maxAddresses: 8, admit: func(string) bool { return true }, maxStagedBytes: 1 << 20}
	tx := &activeTx{id: "tx1", deadline: now.Add(-time.Second), parts: map[string]*verdictv1.ParticipantRef{}, decided: make(chan struct{})}
	if err := a.add(tx, 1); err != nil {
		t.Fatal(err)
	}
	cs := a.startCommit(tx, nil, nil, l)
	if cs.start || cs.refuse != "deadline passed before commit" || cs.cause != AbortDeadline {
		t.Fatalf("startCommit past the deadline: %+v", cs)
	}
	if _, ok := a.claimAbort(tx); !ok {
		t.Fatal("abort could not claim the refused transaction")
	}
	if got := a.state(tx); got != verdictv1.TxState_TX_STATE_ABORTED {
		t.Fatalf("state %v, want ABORTED", got)
	}
	if _, ok := a.claimAbort(tx); ok {
		t.Fatal("abort claimed twice")
	}
}

// Tombstones are bounded: past the bound, a floor replaces them, below
// which no stamped txid registers (UUIDv7s sort by time); above it, one
// still does. A tombstone is refused for a txid registered meanwhile.
func TestTombstonesBounded(t *testing.T) {
	a := newActiveTable()
	ids := make([]string, 4)
	for i := range ids {
		ids[i], _ = txid.NewAt(time.UnixMilli(int64(1_700_000_000_000 + i)))
	}
	until := time.Now().Add(time.Hour)
	for _, id := range ids[:3] { // two tombstones, then the floor
		if r := a.tombstone(id, 0, until, 2, false); r != tombed {
			t.Fatalf("tombstone(%s) = %v", id, r)
		}
	}
	if len(a.tombs) != 2 || a.floor != ids[2] {
		t.Fatalf("%d tombstones, floor %q; want 2 and %s", len(a.tombs), a.floor, ids[2])
	}
	stamped := func(id, client string) *activeTx {
		return &activeTx{id: id, client: client, parts: map[string]*verdictv1.ParticipantRef{}, decided: make(chan struct{})}
	}
	for _, id := range ids[:3] {
		if _, err := a.addStamped(stamped(id, ""), 10, 10); !errors.Is(err, ErrNotActive) {
			t.Errorf("registering %s (tombstone or below the floor) = %v; want ErrNotActive", id, err)
		}
	}
	if cur, err := a.addStamped(stamped(ids[3], ""), 10, 10); err != nil || cur.id != ids[3] {
		t.Fatalf("registering %s above the floor = %v, %v", ids[3], cur, err)
	}
	if r := a.tombstone(ids[3], 0, until, 2, false); r != registered {
		t.Errorf("tombstone of a registered txid = %v", r)
	}
	far, _ := txid.NewAt(time.UnixMilli(1_900_000_000_000))
	if r := a.tombstone(far, 0, until, 2, true); r != tombsFull || a.floor != ids[2] {
		t.Errorf("tombstone of a far-ahead txid when full = %v, floor %q; want no room, the floor unmoved", r, a.floor)
	}
	later, _ := txid.NewAt(time.UnixMilli(1_800_000_000_000))
	if _, err := a.addStamped(stamped(later, ""), 10, 1); !errors.Is(err, ErrLimit) {
		t.Errorf("a second unattributed registration with a limit of 1 = %v; want ErrLimit", err)
	}
}

// The table registers transactions of the term it serves only: a request
// that found the node ready, but reaches the table after leadership was
// handled again, registers nothing.
func TestActiveServesOneTerm(t *testing.T) {
	a := newActiveTable()
	tx := func(id string, term uint64) *activeTx {
		return &activeTx{id: id, term: term, client: "c", parts: map[string]*verdictv1.ParticipantRef{}, decided: make(chan struct{})}
	}
	a.clearExcept(5)
	if err := a.add(tx("old", 4), 10); !errors.Is(err, ErrNotLeader) {
		t.Errorf("add of a transaction of term 4 while serving 5 = %v; want ErrNotLeader", err)
	}
	if _, err := a.addStamped(tx("old-stamped", 4), 10, 10); !errors.Is(err, ErrNotLeader) {
		t.Errorf("addStamped of term 4 while serving 5 = %v; want ErrNotLeader", err)
	}
	if err := a.add(tx("now", 5), 10); err != nil {
		t.Fatalf("add of term 5 while serving it: %v", err)
	}
	a.clearExcept(0) // not the ready leader any more
	if _, ok := a.get("now"); ok {
		t.Error("a transaction of the term given up is still held")
	}
	if err := a.add(tx("late", 5), 10); !errors.Is(err, ErrNotLeader) {
		t.Errorf("add after the term was given up = %v; want ErrNotLeader", err)
	}
	if _, err := a.addStamped(tx("late-stamped", 5), 10, 10); !errors.Is(err, ErrNotLeader) {
		t.Errorf("addStamped after the term was given up = %v; want ErrNotLeader", err)
	}
	if r := a.tombstone("late-unknown", 5, time.Now().Add(time.Hour), 10, false); r != notServing || len(a.tombs) != 0 {
		t.Errorf("tombstone after the term was given up = %v with %d tombstones; want nothing marked", r, len(a.tombs))
	}
}
