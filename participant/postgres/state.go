package postgres

import (
	"sync"
	"time"
)

// txState is what a Resource knows, in memory, of a transaction's work.
// After a restart it knows nothing, and asks PostgreSQL
// (pg_prepared_xacts, the marker table) instead.
type txState int

const (
	// stWorking: a RunInTx call is running; Prepare votes NO.
	stWorking txState = iota + 1
	// stPrepared: PREPARE TRANSACTION succeeded; Prepare votes YES.
	stPrepared
	// stReadOnly: the work wrote nothing and ended; Prepare votes
	// READ_ONLY.
	stReadOnly
	// stFailed: the work failed and was rolled back; Prepare votes NO.
	stFailed
	// stUncertain: PREPARE TRANSACTION failed in a way that leaves its
	// outcome unknown; Prepare asks pg_prepared_xacts.
	stUncertain
)

func (s txState) String() string {
	switch s {
	case stWorking:
		return "working"
	case stPrepared:
		return "prepared"
	case stReadOnly:
		return "read-only"
	case stFailed:
		return "failed"
	case stUncertain:
		return "uncertain"
	}
	return "unknown"
}

// txEntry is a transaction with work here.
type txEntry struct {
	// seal is held while a RunInTx seals the work (the fence check, the
	// marker, PREPARE TRANSACTION) and by Abort and Commit, which thus
	// see the work either before the seal or after it.
	seal sync.Mutex
	// Guarded by Resource.mu.
	state    txState
	reason   string    // why the work failed (stFailed)
	deadline time.Time // of the transaction; zero if unknown
}

// Fences of transactions aborted here are kept until the transaction's
// deadline (if known) plus fenceSlack, or fenceSlack after the abort: past
// its deadline, work is refused anyway.
const (
	fenceSlack      = 10 * time.Minute
	fencePruneEvery = time.Minute
)

// claim registers a RunInTx call under id, refusing it if id is fenced or
// past its deadline, or if it has work in progress or prepared here.
func (r *Resource) claim(id string, deadline time.Time) (*txEntry, error) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fencedLocked(id, now) {
		return nil, errorf(ErrAborted, "transaction %s is aborted at %s", id, r.cfg.Branch)
	}
	if !deadline.IsZero() && !now.Before(deadline) {
		return nil, errorf(ErrAborted, "transaction %s is past its deadline", id)
	}
	if e, ok := r.txs[id]; ok {
		switch e.state {
		case stReadOnly, stFailed:
			// Nothing is held: new work may start afresh.
		default:
			return nil, errorf(ErrWorkDone, "transaction %s is %v at %s", id, e.state, r.cfg.Branch)
		}
	}
	e := &txEntry{state: stWorking, deadline: deadline}
	r.txs[id] = e
	return e, nil
}

// settle records the end of e's work. An entry removed meanwhile (Abort)
// is updated all the same, for the Abort waiting on its seal.
func (r *Resource) settle(e *txEntry, s txState, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.state, e.reason = s, reason
}

// lookup returns id's entry and its state.
func (r *Resource) lookup(id string) (*txEntry, txState, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.txs[id]
	if !ok {
		return nil, 0, ""
	}
	return e, e.state, e.reason
}

// stateOf returns e's state.
func (r *Resource) stateOf(e *txEntry) txState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return e.state
}

// setPrepared records that id is prepared (found in pg_prepared_xacts).
func (r *Resource) setPrepared(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.txs[id]; ok {
		e.state = stPrepared
		return
	}
	r.txs[id] = &txEntry{state: stPrepared}
}

// forget drops id, decided here.
func (r *Resource) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.txs, id)
}

// fence refuses later work and Prepare for id, and returns the entry it
// had, now removed.
func (r *Resource) fence(id string) *txEntry {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.txs[id]
	delete(r.txs, id)
	exp := now.Add(fenceSlack)
	if e != nil && e.deadline.After(now) {
		exp = e.deadline.Add(fenceSlack)
	}
	r.fenced[id] = exp
	if now.After(r.nextPrune) {
		r.nextPrune = now.Add(fencePruneEvery)
		for id, exp := range r.fenced {
			if now.After(exp) {
				delete(r.fenced, id)
			}
		}
	}
	return e
}

// isFenced reports whether id is fenced.
func (r *Resource) isFenced(id string) bool {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fencedLocked(id, now)
}

func (r *Resource) fencedLocked(id string, now time.Time) bool {
	exp, ok := r.fenced[id]
	return ok && !now.After(exp)
}
