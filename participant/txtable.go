package participant

import (
	"sync"
	"time"

	"github.com/verdict-tx/verdict/internal/txid"
)

// txState is the state of a transaction in a Server's txTable. A txid
// absent from the table is unknown here, or committed here (a commit drops
// the entry), or forgotten once its record expired.
//
//	txEnlisted  no work recorded; only the enlistment is remembered, so
//	            that a later call does not enlist again (after a
//	            read-only vote, or prepared work past its deadline, which
//	            the recovery loop resolves)
//	txWorking   work admitted and not voted YES on; calls and Prepares in
//	            progress are counted (preparing > 0 is "preparing": no
//	            more work is admitted, the sweep leaves it alone; a
//	            counter, not a state, since a coordinator's retried
//	            Prepare may overlap the first)
//	txPrepared  voted YES: work is sealed, the sweep never aborts it
//	txAborting  claimed by the deadline sweep, fenced; its
//	            Resource.Abort has not succeeded yet (retried each pass)
//	txAborted   fenced: work, Prepare (votes NO) and Commit (refused,
//	            FailedPrecondition) are refused until the fence expires,
//	            a minute past the deadline (see expiry)
//
// Transitions, each made under the table's lock by one method:
//
//	absent, txEnlisted, expired txAborted
//	            → txWorking    begin (a call) or beginPrepare
//	absent      → txEnlisted   enlist (the enlistment outlived the work)
//	txWorking   → txPrepared   a Prepare voted YES (endPrepare)
//	txWorking   → txEnlisted   a Prepare voted read-only, nothing else in
//	            / absent       progress (endPrepare; absent unless enlisted)
//	txWorking   → txAborting   expired: idle and past deadline plus slack
//	txPrepared  → txEnlisted   expired: past deadline plus slack
//	            / absent
//	txAborting  → txAborted    aborted: the sweep's Resource.Abort succeeded
//	any         → txAborted    fence: Abort, recovery learned ABORTED, or a
//	                           call that could not enlist was discarded
//	any but     → absent       committed (Commit or recovery committed)
//	fenced
//	txEnlisted, → absent       pruned once the record expires
//	txAborted
//
// A fenced transaction stays fenced when it is committed (recovery applying
// a COMMITTED the coordinator gave after an Abort here is a heuristic mix
// the fence keeps refusing). The Commit handler's and the recovery loop's
// mutual exclusion is the commitGate's; it reads the fence from here.
type txState uint8

const (
	txEnlisted txState = iota
	txWorking
	txPrepared
	txAborting
	txAborted
)

// txEntry is what the table holds of one transaction.
type txEntry struct {
	state     txState
	deadline  time.Time // txWorking, txPrepared, txAborting: when the sweep may abort unprepared work (before the slack)
	calls     int       // calls under the transaction in progress here
	preparing int       // Prepares in progress
	enlisted  time.Time // until when the enlistment is remembered; zero if not enlisted
	fenced    time.Time // txAborting, txAborted: until when the fence holds
	// readOnly: txWorking, and the Resource voted read-only at the end of
	// the last call (Config.EarlyVote); a call clears it.
	readOnly bool
}

// hasWork reports whether e records work (and its deadline).
func (e *txEntry) hasWork() bool {
	return e.state == txWorking || e.state == txPrepared || e.state == txAborting
}

func (e *txEntry) isFenced(now time.Time) bool {
	return (e.state == txAborting || e.state == txAborted) && now.Before(e.fenced)
}

func (e *txEntry) isEnlisted(now time.Time) bool { return now.Before(e.enlisted) }

// txTable is the one record of the transactions a Server knows, and the
// only code that changes their state (see txState). It decides, under its
// lock, every race between work, Prepare, the deadline sweep, Abort and
// Commit: a transaction the sweep has claimed or that is fenced admits no
// work and votes NO; one with a call or a Prepare in progress, or a YES
// vote, is never claimed. Records of transactions without work (fences,
// enlistments) are kept until their expiry and swept at most once per
// pruneEvery, so the table's size is bounded by the rate of transactions
// times their lifetime.
type txTable struct {
	mu        sync.Mutex
	m         map[string]*txEntry
	nextPrune time.Time
}

func newTxTable() *txTable { return &txTable{m: make(map[string]*txEntry)} }

// Reasons begin gives for refusing.
const (
	refusedAborted  = "aborted"
	refusedPrepared = "already preparing or prepared"
	refusedDeadline = "past its deadline"
)

// startWorkLocked returns the entry of id in txWorking, making a new one
// with the given sweep deadline if id has no work recorded (keeping its
// enlistment), or nil if id is fenced or claimed by the sweep.
func (t *txTable) startWorkLocked(id string, deadline, now time.Time) *txEntry {
	e := t.m[id]
	switch {
	case e == nil:
	case e.state == txAborting || e.isFenced(now):
		return nil
	case e.state == txWorking || e.state == txPrepared:
		return e
	}
	ne := &txEntry{state: txWorking, deadline: deadline}
	if e != nil && e.state == txEnlisted {
		ne.enlisted = e.enlisted
	}
	t.m[id] = ne
	return ne
}

// begin admits a call under id: it returns a func to call when the call is
// over, or the reason it is refused (the transaction is aborted or claimed
// by the sweep, preparing or prepared, or past the deadline recorded by its
// first call).
func (t *txTable) begin(id string, deadline, now time.Time) (done func(), refused string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[id]; e != nil && (e.state == txAborting || e.isFenced(now)) {
		return nil, refusedAborted
	}
	if e := t.m[id]; e == nil || !e.hasWork() {
		if !now.Before(sweepDeadline(id, deadline, now)) {
			return nil, refusedDeadline
		}
	}
	e := t.startWorkLocked(id, sweepDeadline(id, deadline, now), now)
	switch {
	case e.state == txPrepared || e.preparing > 0:
		return nil, refusedPrepared
	case !now.Before(e.deadline):
		return nil, refusedDeadline
	}
	e.calls++
	e.readOnly = false
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		e.calls--
	}, ""
}

// Reasons beginPrepare gives for answering a Prepare itself.
const (
	prepareAborted = "aborted"
	prepareBusy    = "has a call in progress under the transaction"
)

// beginPrepare starts a coordinator's Prepare of id and returns the func
// that records its vote; or, without asking the Resource, the vote to give
// (with why, for a NO): NO if id is aborted or claimed by the sweep, or
// has a call in progress (its work is not finished, and an early YES of
// that call, which the coordinator has not counted since it asks, must
// not count later either: the decision has begun); READ_ONLY if the
// Resource voted read-only at the end of the last call (Config.EarlyVote)
// and no call came since.
func (t *txTable) beginPrepare(id string, now time.Time) (end func(Vote), answer Vote, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.startWorkLocked(id, sweepDeadline(id, time.Time{}, now), now)
	switch {
	case e == nil:
		return nil, VoteNo, prepareAborted
	case e.calls > 0:
		return nil, VoteNo, prepareBusy
	case e.readOnly && e.preparing == 0:
		t.forgetWorkLocked(id, e, time.Time{})
		return nil, VoteReadOnly, ""
	}
	e.preparing++
	return func(v Vote) { t.endPrepare(id, e, v) }, 0, ""
}

// beginEarlyPrepare starts the Prepare of id that the one call in
// progress under it makes at its end (Config.EarlyVote), and returns the
// func that records its vote; nil if id has another call or a Prepare in
// progress, or is not working (fenced, claimed, prepared already).
func (t *txTable) beginEarlyPrepare(id string) (end func(Vote)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[id]
	if e == nil || e.state != txWorking || e.calls != 1 || e.preparing != 0 {
		return nil
	}
	e.preparing++
	return func(v Vote) { t.endPrepare(id, e, v) }
}

// inCall reports whether id has a call or a Prepare in progress here.
func (t *txTable) inCall(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[id]
	return e != nil && (e.calls > 0 || e.preparing > 0)
}

// endPrepare records the vote of a Prepare of entry e. A YES is final; a
// read-only voter leaves the transaction, so its work is forgotten; after
// a NO the work stays for the coordinator's Abort or the sweep. Nothing
// changes if the transaction was decided meanwhile.
func (t *txTable) endPrepare(id string, e *txEntry, v Vote) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[id] != e || (e.state != txWorking && e.state != txPrepared) {
		return
	}
	e.preparing--
	switch v {
	case VoteYes:
		e.state = txPrepared
	case VoteReadOnly:
		switch {
		case e.state != txWorking:
		case e.calls == 0 && e.preparing == 0:
			t.forgetWorkLocked(id, e, time.Time{})
		case e.calls == 1 && e.preparing == 0:
			// The early vote of the call in progress: the coordinator's
			// Prepare, which the Resource might not answer alike once it
			// has forgotten the work, gets READ_ONLY unless a call comes.
			e.readOnly = true
		}
	}
}

// forgetWorkLocked drops the work record of e, keeping its enlistment if
// it is still remembered at now (zero: remembered if set).
func (t *txTable) forgetWorkLocked(id string, e *txEntry, now time.Time) {
	if e.enlisted.IsZero() || !now.IsZero() && !e.isEnlisted(now) {
		delete(t.m, id)
		return
	}
	t.m[id] = &txEntry{state: txEnlisted, enlisted: e.enlisted}
}

// expired claims the transactions whose deadline plus slack has passed and
// whose work is idle, fencing them (txAborting), and returns them, with
// those claimed earlier whose abort failed, for the sweep to abort.
// Prepared ones past that time are forgotten. A claimed transaction stays
// claimed until aborted or fence.
func (t *txTable) expired(now time.Time, slack time.Duration) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ids []string
	for id, e := range t.m {
		if !e.hasWork() || now.Before(e.deadline.Add(slack)) {
			continue
		}
		switch {
		case e.state == txAborting:
			ids = append(ids, id) // retry a failed abort
		case e.calls > 0 || e.preparing > 0:
		case e.state == txPrepared:
			t.forgetWorkLocked(id, e, now)
		default:
			e.state = txAborting
			e.fenced = expiry(id, e.deadline, now)
			e.enlisted = time.Time{}
			ids = append(ids, id)
		}
	}
	t.pruneLocked(now)
	return ids
}

// aborted records that the sweep's abort of id, which it claimed, has
// succeeded: the work is gone, the fence stays.
func (t *txTable) aborted(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[id]; e != nil && e.state == txAborting {
		t.m[id] = &txEntry{state: txAborted, fenced: e.fenced}
	}
}

// fence records id aborted here: later work and Prepare for it are
// refused, and so is a Commit (commitGate). The fence holds until a
// minute past the transaction's deadline: the one its work recorded, else
// the one it enlisted with, else an hour after its creation (expiry).
func (t *txTable) fence(id string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[id]
	var deadline time.Time
	switch {
	case e == nil:
	case e.hasWork():
		deadline = e.deadline
	case e.isEnlisted(now):
		deadline = e.enlisted.Add(-rememberSlack)
	}
	exp := expiry(id, deadline, now)
	if e != nil && (e.state == txAborting || e.state == txAborted) && e.fenced.After(exp) {
		exp = e.fenced
	}
	t.m[id] = &txEntry{state: txAborted, fenced: exp}
	t.pruneLocked(now)
}

// committed records id committed here: its entry is dropped, unless it is
// fenced, which it stays.
func (t *txTable) committed(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e := t.m[id]; {
	case e == nil:
	case e.state == txAborting:
		t.m[id] = &txEntry{state: txAborted, fenced: e.fenced}
	case e.state != txAborted:
		delete(t.m, id)
	}
}

// enlist records that this participant enlisted in id, whose deadline
// (zero if unknown) bounds how long that is remembered (expiry).
func (t *txTable) enlist(id string, deadline, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	exp := expiry(id, deadline, now)
	switch e := t.m[id]; {
	case e == nil:
		t.m[id] = &txEntry{state: txEnlisted, enlisted: exp}
	case e.state == txAborting || e.state == txAborted:
		// Fenced: there is nothing more to enlist for.
	case e.enlisted.Before(exp):
		e.enlisted = exp
	}
	t.pruneLocked(now)
}

// isEnlisted reports whether this participant enlisted in id.
func (t *txTable) isEnlisted(id string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[id]
	return e != nil && e.isEnlisted(now)
}

// isFenced reports whether id is aborted here.
func (t *txTable) isFenced(id string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[id]
	return e != nil && e.isFenced(now)
}

// workLen returns how many transactions have work recorded.
func (t *txTable) workLen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, e := range t.m {
		if e.hasWork() {
			n++
		}
	}
	return n
}

func (t *txTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// pruneLocked drops, at most once per pruneEvery, the entries without work
// whose fence and enlistment have expired.
func (t *txTable) pruneLocked(now time.Time) {
	if now.Before(t.nextPrune) {
		return
	}
	t.nextPrune = now.Add(pruneEvery)
	for id, e := range t.m {
		if !e.hasWork() && !e.isFenced(now) && !e.isEnlisted(now) {
			delete(t.m, id)
		}
	}
}

const (
	// unknownLifetime is how long a transaction whose deadline is unknown
	// is remembered, from its creation (a txid carries its time).
	unknownLifetime = time.Hour
	// rememberSlack is how long a transaction is remembered past its
	// deadline, for clock skew between coordinator and participant.
	rememberSlack = time.Minute
	// maxRemember bounds how far in the future an entry may expire, so
	// that an id or deadline from a wrong clock cannot pin memory.
	maxRemember = 24 * time.Hour
	// pruneEvery is the minimum period between two sweeps of expired
	// records.
	pruneEvery = time.Second
)

// expiry returns until when a transaction with the given id and deadline
// (zero if unknown) is worth remembering, within [now+rememberSlack,
// now+maxRemember].
func expiry(id string, deadline, now time.Time) time.Time {
	exp := deadline.Add(rememberSlack)
	if deadline.IsZero() {
		exp = created(id, now).Add(unknownLifetime)
	}
	if lo := now.Add(rememberSlack); exp.Before(lo) {
		exp = lo
	}
	if hi := now.Add(maxRemember); exp.After(hi) {
		exp = hi
	}
	return exp
}

// sweepDeadline is when the sweep may abort unprepared work of id: its
// deadline, or without one the id's creation time plus unknownLifetime; at
// most maxRemember from now, so that a wrong clock cannot pin an entry.
func sweepDeadline(id string, deadline, now time.Time) time.Time {
	if deadline.IsZero() {
		deadline = created(id, now).Add(unknownLifetime)
	}
	if hi := now.Add(maxRemember); deadline.After(hi) {
		deadline = hi
	}
	return deadline
}

// created returns the creation time carried by id, or now.
func created(id string, now time.Time) time.Time {
	t, err := txid.Time(id)
	if err != nil {
		return now
	}
	return t
}
