package engine

import (
	"errors"
	"time"

	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Transactions an initiator begins itself: Begin without a round trip.
//
// An initiator that has learned the leader's term from an earlier answer
// (BeginResponse.term, CommitResponse.term) may make the UUIDv7 txid
// itself, choose the deadline, and stamp the transaction with that term
// (TxStamp). Its participants enlist with the stamp; the leader registers
// the transaction at the first enlistment or Commit that carries it, as
// Begin would have, if the stamp names the term this node leads. A stamp of
// any other term is refused: the transaction is unknown here, so it is
// aborted (presumed abort), and the initiator learns the new term.
//
// Why the stamp makes this safe. Registering a transaction lazily without
// it would not be: a participant enlisted at the old leader is lost with
// the old leader's memory, and a Commit that reaches the new leader would
// register the transaction afresh, without that participant, and commit
// it. With the stamp, a transaction lives in one term only:
//
//   - A term has one leader, and that leader's memory does not outlive its
//     term: a node that restarts comes back a follower, and leads again only
//     in a later term. Every enlistment and the Commit of a stamped
//     transaction therefore reach the one engine that registered it, or
//     are refused; none can be registered at a later leader, since their
//     stamp names an earlier term.
//   - When the term ends, the transaction is forgotten (clearExcept) like
//     one begun by Begin, and what follows is today's presumed abort.
//   - A txid is registered only within a window of this leader's clock
//     (stampWindow): made no more than stampSlack ahead of it and no more
//     than MaxTimeout plus stampSlack before it. The clock read is
//     monotone (stampNow: it never goes back within the engine's life), so
//     a txid that has left the window never enters it again, whatever the
//     system clock does.
//   - Within the term, an answer of "aborted" for a transaction the leader
//     does not know (an Outcome, an Abort, a refused registration at
//     Commit) could be contradicted by a registration that comes after it.
//     The leader therefore leaves a tombstone for such a txid while it can
//     still enter the window (until its time plus MaxTimeout plus two
//     stampSlack), and registers no txid that has one. Past
//     maxTombstones, a registration floor replaces new tombstones: no txid
//     at or below it (UUIDv7s sort by time) is registered any more in this
//     term; that costs availability (such transactions are refused, and
//     their clients begin with a call), never safety. A txid made more
//     than stampAheadLimit ahead of the clock does not raise the floor
//     (it would refuse registrations for long): once the tombstones are
//     full, it is answered with an error instead of "aborted".
//   - The window check of a registration, and the expiry of tombstones
//     and recent outcomes, read the monotone clock under the active
//     table's lock: a registration that comes after an expiry sees a
//     reading at least as new, at which the txid has left the window.
//   - Once decided, a stamped transaction stays known while it can still
//     enter the window, whatever the retention: its recent outcome is kept
//     for at least MaxTimeout plus two stampSlack (stampMemory) by the
//     monotone clock, and while this leader has registered a stamped
//     transaction within 1.25 times that, Prune records spare decisions
//     for as long by the log's time (which may catch up with the clock at
//     1.25 times its pace: logclock.go). A cluster whose clients all begin
//     with a call keeps its retention as configured.
//
// The per-client limit on open transactions counts a stamped transaction
// against its initiator when its Commit registers it. One registered by an
// enlistment is counted against no client (the participant enlisting is
// not the one that opened it), and all such transactions together are
// bounded by maxUnattributed times that limit.

// Bounds of stamped transactions (see the notes above).
const (
	// stampSlack is how far ahead of this leader's clock a stamped txid
	// may be made (the initiator's clock made it), and how much older
	// than MaxTimeout.
	stampSlack = time.Minute
	// stampAheadLimit: an unknown txid made further ahead than this is
	// answered with an error, not "aborted" (it gets no tombstone).
	stampAheadLimit = 10 * time.Minute
	// maxTombstones bounds the tombstones kept; past it, the floor.
	maxTombstones = 100_000
	// maxUnattributed bounds the transactions registered by enlistments,
	// as a multiple of the per-client limit.
	maxUnattributed = 10
)

// stampMemory is how long a decided stamped transaction must stay known.
func (c *Engine) stampMemory() time.Duration { return c.cfg.maxTimeout + 2*stampSlack }

// stampNow is this engine's clock, never read going back: the window of
// stamped txids and the tombstones' expiry follow it.
func (c *Engine) stampNow() time.Time {
	now := c.cfg.clock.Now().UnixNano()
	for {
		hwm := c.hwm.Load()
		if now <= hwm {
			return time.Unix(0, hwm)
		}
		if c.hwm.CompareAndSwap(hwm, now) {
			return time.Unix(0, now)
		}
	}
}

// stamp is a TxStamp: the leader term the initiator stamped a transaction
// it began itself with, and the deadline it chose.
type stamp struct {
	term     uint64
	deadline time.Time
}

// stampOf reads s; false for none (a transaction begun by Begin).
func stampOf(s *verdictv1.TxStamp) (stamp, bool) {
	if s.GetTerm() == 0 {
		return stamp{}, false
	}
	return stamp{term: s.GetTerm(), deadline: time.UnixMilli(s.GetDeadlineUnixMs())}, true
}

// registerStamped registers transaction id, which its initiator began with
// st, at this leader of term; it returns the active transaction (the one a
// concurrent call registered, if it came first). client is the initiator
// when its Commit registers it, "" (unattributed) for an enlistment.
func (c *Engine) registerStamped(id string, st stamp, term uint64, client string) (*activeTx, error) {
	if st.term != term {
		return nil, errorf(ErrNotActive,
			"verdict: transaction %s is stamped with leader term %d, but this leader's term is %d: it is not known here, so it is aborted; begin it again", id, st.term, term)
	}
	// The window of stamped txids is checked by addStamped, under the
	// active table's lock (see the notes above).
	now := c.stampNow()
	if !st.deadline.After(c.cfg.clock.Now()) {
		return nil, errorf(ErrNotActive, "verdict: transaction %s is past its deadline: aborted", id)
	}
	deadline := st.deadline
	if limit := c.cfg.clock.Now().Add(c.cfg.maxTimeout); deadline.After(limit) {
		deadline = limit
	}
	t := &activeTx{
		id:       id,
		deadline: deadline,
		term:     term,
		client:   client,
		stamped:  true,
		parts:    map[string]*verdictv1.ParticipantRef{},
		decided:  make(chan struct{}),
	}
	cur, err := c.active.addStamped(t, c.cfg.maxOpen, c.cfg.maxOpen*maxUnattributed)
	if err != nil {
		return nil, err
	}
	if cur == t {
		c.lastStamped.Store(now.UnixNano())
		c.timeline.add(id, eventBegin, "", "begun by its initiator, registered here; deadline "+t.deadline.UTC().Format(time.RFC3339Nano))
	}
	return cur, nil
}

// pruneKeep is how long after DONE, by the log's time, decisions are kept:
// the retention, or longer while a stamped transaction registered here
// could still be registered again (stamped.go; the log's time may run up
// to 1.25 times as fast as the clock).
func (c *Engine) pruneKeep(now time.Time) time.Duration {
	keep := c.stampMemory() * 5 / 4
	if now.Sub(time.Unix(0, c.lastStamped.Load())) > keep {
		return c.cfg.retention
	}
	return max(c.cfg.retention, keep)
}

// place of a txid against the window of stamped txids.
type windowPlace int

const (
	inWindow  windowPlace = iota
	beforeIt              // too old, or malformed: never registrable again
	aheadOfIt             // not yet registrable
	farAhead              // beyond stampAheadLimit
)

// window places id, made at created, against the window of stamped txids
// at now.
func (c *Engine) window(id string, now time.Time) (place windowPlace, created time.Time) {
	created, err := txid.Time(id)
	switch {
	case err != nil || !created.After(now.Add(-c.cfg.maxTimeout-stampSlack)):
		return beforeIt, created
	case created.After(now.Add(stampAheadLimit)):
		return farAhead, created
	case !created.Before(now.Add(stampSlack)):
		return aheadOfIt, created
	}
	return inWindow, created
}

// errFarAhead answers an unknown txid made far ahead of this leader's clock
// when no tombstone is left for it.
func errFarAhead(id string) error {
	return errorf(ErrInvalid, "verdict: transaction %s was made more than %v ahead of this leader's clock: check the clock of its initiator", id, stampAheadLimit)
}

// tombstone makes sure that id, found nowhere and about to be answered
// "aborted", is never registered by a stamp later in this term. It returns
// errRegistered if id was registered meanwhile (the caller looks again),
// errFarAhead for an id far ahead of the clock when no tombstone is left
// for it (the floor would then refuse registrations for long), and
// ErrNotLeader when term is no longer served: the memory of what this
// node answered in it may be forgotten, so it answers nothing.
func (c *Engine) tombstone(id string, term uint64) error {
	place, created := c.window(id, c.stampNow())
	if place == beforeIt { // never registrable again
		if !c.active.serves(term) {
			return errNotLeader() // the lookup may have missed forgotten memory
		}
		return nil
	}
	switch c.active.tombstone(id, term, created.Add(c.stampMemory()), maxTombstones, place == farAhead) {
	case registered:
		return errRegistered
	case notServing:
		return errNotLeader()
	case tombsFull:
		return errFarAhead(id)
	}
	return nil
}

// errRegistered: the txid was registered while it was being answered.
var errRegistered = errors.New("verdict: registered meanwhile")
