package participant

import (
	"sync"
	"time"

	"github.com/verdict-tx/verdict/internal/txid"
)

// txWork is what a Server knows of a transaction it did work in.
type txWork struct {
	deadline  time.Time // when the sweep may abort unprepared work (before the slack)
	calls     int       // calls under the transaction in progress here
	preparing int       // Prepares in progress
	prepared  bool      // voted YES: the sweep never touches it
	aborting  bool      // claimed by the sweep: no more work, Prepare votes NO
}

// idle reports whether the sweep may abort the work: nothing in progress,
// no YES vote, not claimed already.
func (w *txWork) idle() bool {
	return w.calls == 0 && w.preparing == 0 && !w.prepared && !w.aborting
}

// workTable tracks, per transaction this participant did work in, its
// deadline and whether it voted YES, so that the deadline sweep can abort
// unprepared work whose initiator or coordinator has gone away. An entry
// lives from the first call until the transaction is decided here, or until
// the sweep has aborted it (unprepared) or forgotten it (prepared: past its
// deadline no work is admitted, and the recovery loop resolves it).
//
// The table decides, under its lock, every race between work, Prepare and
// the sweep: a transaction the sweep has claimed admits no work and votes
// NO; one with a call or a Prepare in progress, or a YES vote, is never
// claimed.
type workTable struct {
	fenced func(id string) bool

	mu sync.Mutex
	m  map[string]*txWork
}

func newWorkTable(fenced func(id string) bool) *workTable {
	return &workTable{fenced: fenced, m: make(map[string]*txWork)}
}

// Reasons begin and beginPrepare give for refusing.
const (
	refusedAborted  = "aborted"
	refusedPrepared = "already preparing or prepared"
	refusedDeadline = "past its deadline"
)

// begin admits a call under id: it returns a func to call when the call is
// over, or the reason it is refused (the transaction is aborted or claimed
// by the sweep, preparing or prepared, or past the deadline recorded by its
// first call).
func (t *workTable) begin(id string, deadline, now time.Time) (done func(), refused string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.m[id]
	switch {
	case t.fenced(id) || w != nil && w.aborting:
		return nil, refusedAborted
	case w == nil:
		w = &txWork{deadline: sweepDeadline(id, deadline, now)}
		if !now.Before(w.deadline) {
			return nil, refusedDeadline
		}
		t.m[id] = w
	case w.prepared || w.preparing > 0:
		return nil, refusedPrepared
	case !now.Before(w.deadline):
		return nil, refusedDeadline
	}
	w.calls++
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		w.calls--
	}, ""
}

// beginPrepare starts a Prepare of id, unless it is aborted or claimed by
// the sweep (then it must vote NO).
func (t *workTable) beginPrepare(id string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.m[id]
	if t.fenced(id) || w != nil && w.aborting {
		return false
	}
	if w == nil {
		w = &txWork{deadline: sweepDeadline(id, time.Time{}, now)}
		t.m[id] = w
	}
	w.preparing++
	return true
}

// endPrepare records the vote of a Prepare begun by beginPrepare. A YES is
// final; a read-only voter leaves the transaction, so it is forgotten; after
// a NO the work stays for the coordinator's Abort or the sweep.
func (t *workTable) endPrepare(id string, v Vote) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.m[id]
	if w == nil { // decided meanwhile
		return
	}
	w.preparing--
	switch v {
	case VoteYes:
		w.prepared = true
	case VoteReadOnly:
		if w.calls == 0 && w.preparing == 0 && !w.prepared {
			delete(t.m, id)
		}
	}
}

// expired claims the transactions whose deadline plus slack has passed and
// whose work is idle, and returns them, with those claimed earlier whose
// abort failed, for the sweep to abort. Prepared ones past that time are
// forgotten. A claimed transaction stays until forget.
func (t *workTable) expired(now time.Time, slack time.Duration) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []string
	for id, w := range t.m {
		if now.Before(w.deadline.Add(slack)) {
			continue
		}
		switch {
		case w.aborting:
			ids = append(ids, id) // retry a failed abort
		case w.prepared && w.calls == 0 && w.preparing == 0:
			delete(t.m, id)
		case w.idle():
			w.aborting = true
			ids = append(ids, id)
		}
	}
	return ids
}

// deadline returns the deadline recorded for id, if any.
func (t *workTable) deadline(id string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w, ok := t.m[id]; ok {
		return w.deadline, true
	}
	return time.Time{}, false
}

// forget drops id: it is decided here.
func (t *workTable) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
}

func (t *workTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// sweepDeadline is when the sweep may abort unprepared work of id: its
// deadline, or without one the id's creation time plus unknownLifetime; at
// most maxRemember from now, so that a wrong clock cannot pin an entry.
func sweepDeadline(id string, deadline, now time.Time) time.Time {
	if deadline.IsZero() {
		created, err := txid.Time(id)
		if err != nil {
			created = now
		}
		deadline = created.Add(unknownLifetime)
	}
	if hi := now.Add(maxRemember); deadline.After(hi) {
		deadline = hi
	}
	return deadline
}
