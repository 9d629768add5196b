package engine

import (
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
//   - Within the term, an answer of "aborted" for a transaction the leader
//     does not know (an Outcome or an Abort) could be contradicted by a
//     registration that comes after it. The leader therefore leaves a
//     tombstone for such a txid, kept for as long as the txid could still
//     be registered (its time plus MaxTimeout plus stampSlack), and
//     refuses to register a txid that has one.
//   - A txid whose time is far from this leader's clock (more than
//     stampSlack ahead, or older than MaxTimeout plus stampSlack) is not
//     registered. That bounds how long tombstones must be kept, and a
//     stamped transaction can live no longer than one begun by Begin: its
//     deadline is cut to MaxTimeout from its registration.
//
// The per-client limit on open transactions counts a stamped transaction
// against the caller that registered it (the initiator at Commit, or the
// first participant to enlist).

// stampSlack is how far a stamped txid's time may be from this leader's
// clock (the initiator's clock made it).
const stampSlack = time.Minute

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
// st, at this leader of term, for client; it returns the active
// transaction (the one a concurrent call registered, if it came first).
func (c *Engine) registerStamped(id string, st stamp, term uint64, client string) (*activeTx, error) {
	if st.term != term {
		return nil, errorf(ErrNotActive,
			"verdict: transaction %s is stamped with leader term %d, but this leader's term is %d: it is not known here, so it is aborted; begin it again", id, st.term, term)
	}
	now := c.cfg.clock.Now()
	if !c.stampable(id, now) {
		return nil, errorf(ErrNotActive,
			"verdict: transaction %s was made too far from this leader's clock to be begun without Begin: aborted", id)
	}
	if !st.deadline.After(now) {
		return nil, errorf(ErrNotActive, "verdict: transaction %s is past its deadline: aborted", id)
	}
	deadline := st.deadline
	if limit := now.Add(c.cfg.maxTimeout); deadline.After(limit) {
		deadline = limit
	}
	t := &activeTx{
		id:       id,
		deadline: deadline,
		term:     term,
		client:   client,
		parts:    map[string]*verdictv1.ParticipantRef{},
		decided:  make(chan struct{}),
	}
	cur, err := c.active.addStamped(t, c.cfg.maxOpen)
	if err != nil {
		return nil, err
	}
	if cur == t {
		c.timeline.add(id, eventBegin, "", "begun by its initiator, registered here; deadline "+t.deadline.UTC().Format(time.RFC3339Nano))
	}
	return cur, nil
}

// stampable reports whether id's time is close enough to now for id to be
// registered as a stamped transaction (see the safety notes above).
func (c *Engine) stampable(id string, now time.Time) bool {
	created, err := txid.Time(id)
	if err != nil {
		return false
	}
	return created.Before(now.Add(stampSlack)) && created.After(now.Add(-c.cfg.maxTimeout-stampSlack))
}

// tombstone makes sure that id, found nowhere and answered "aborted", is
// never registered by a stamp later in this term. It reports false if id
// was registered meanwhile: the caller must look again.
func (c *Engine) tombstone(id string) bool {
	created, err := txid.Time(id)
	now := c.cfg.clock.Now()
	if err != nil || !c.stampable(id, now) {
		return true // never registrable
	}
	return c.active.tombstone(id, created.Add(c.cfg.maxTimeout+2*stampSlack))
}
