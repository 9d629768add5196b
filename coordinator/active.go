package coordinator

import (
	"sync"
	"time"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// activeTx is a transaction that lives only in the leader's memory: begun,
// perhaps preparing, not yet decided. A leader change forgets it, and the
// new leader answers "aborted" for it (presumed abort).
type activeTx struct {
	id       string
	deadline time.Time
	term     uint64 // the leader term in which it began
	client   string // who began it (auth.identity), for MaxOpenPerClient

	// committing is when Commit started phase 1 (for the commit latency
	// metric); set once, before the decision runs.
	committing time.Time

	// Guarded by activeTable.mu.
	state          verdictv1.TxState // ACTIVE or PREPARING
	parts          map[string]*verdictv1.ParticipantRef
	abortRequested string
	// messages are the staged messages (StageMessages, then Commit's),
	// stagedBytes their encoded size; fixed once PREPARING.
	messages    []*verdictv1.StagedMessage
	stagedBytes int

	// decided is closed when the commit path has an outcome; outcome and
	// reason are set before.
	decided chan struct{}
	outcome verdictv1.Outcome
	reason  string
}

func (t *activeTx) participants() []*verdictv1.ParticipantRef {
	out := make([]*verdictv1.ParticipantRef, 0, len(t.parts))
	for _, p := range t.parts {
		out = append(out, p)
	}
	return out
}

// recent is an outcome the leader remembers without a log record: one-phase
// and read-only commits, and aborts whose record is still on its way.
type recent struct {
	outcome verdictv1.Outcome
	reason  string
	at      time.Time
}

// activeTable holds the leader's active transactions and recent outcomes.
type activeTable struct {
	mu     sync.Mutex
	txs    map[string]*activeTx
	recent map[string]recent
	open   map[string]int // transactions in txs per client
}

func newActiveTable() *activeTable {
	return &activeTable{txs: map[string]*activeTx{}, recent: map[string]recent{}, open: map[string]int{}}
}

// add holds t, unless its client has limit transactions open already.
func (a *activeTable) add(t *activeTx, limit int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.open[t.client] >= limit {
		return false
	}
	a.open[t.client]++
	a.txs[t.id] = t
	return true
}

// remove forgets t; the caller holds a.mu.
func (a *activeTable) remove(t *activeTx) {
	delete(a.txs, t.id)
	if a.open[t.client]--; a.open[t.client] <= 0 {
		delete(a.open, t.client)
	}
}

func (a *activeTable) get(id string) (*activeTx, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.txs[id]
	return t, ok
}

// finish removes t, remembers its outcome, and wakes those waiting on it.
// It reports false if t was finished already.
func (a *activeTable) finish(t *activeTx, o verdictv1.Outcome, reason string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.txs[t.id]; ok && cur == t {
		a.remove(t)
	}
	select {
	case <-t.decided:
		return false
	default:
	}
	t.outcome, t.reason = o, reason
	if o == verdictv1.Outcome_OUTCOME_COMMITTED || o == verdictv1.Outcome_OUTCOME_ABORTED {
		a.recent[t.id] = recent{outcome: o, reason: reason, at: now}
	}
	close(t.decided)
	return true
}

// finish finishes t with its outcome (see activeTable.finish) and records
// the decision in its timeline; an unknown outcome, which no phase 2
// follows, ends the timeline.
func (c *Coordinator) finish(t *activeTx, o verdictv1.Outcome, reason string) {
	if !c.active.finish(t, o, reason, c.cfg.clock.Now()) {
		return
	}
	c.timeline.add(t.id, eventDecision, "", decisionDetail(o, reason))
	if o == verdictv1.Outcome_OUTCOME_UNSPECIFIED {
		c.timeline.finish(t.id)
	}
}

func (a *activeTable) recentOutcome(id string) (recent, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.recent[id]
	return r, ok
}

// expired returns the active transactions whose deadline has passed and are
// not preparing (the commit path owns those), and forgets recent outcomes
// older than keep.
func (a *activeTable) expired(now time.Time, keep time.Duration) []*activeTx {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*activeTx
	for _, t := range a.txs {
		if t.state == verdictv1.TxState_TX_STATE_ACTIVE && now.After(t.deadline) {
			out = append(out, t)
		}
	}
	for id, r := range a.recent {
		if now.Sub(r.at) > keep {
			delete(a.recent, id)
		}
	}
	return out
}

// clearExcept forgets every transaction not begun in term, and all recent
// outcomes if any was forgotten: leadership changed hands. Waiters are woken
// with an unknown outcome.
func (a *activeTable) clearExcept(term uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.txs {
		if t.term == term {
			continue
		}
		select {
		case <-t.decided:
		default:
			t.outcome = verdictv1.Outcome_OUTCOME_UNSPECIFIED
			t.reason = "leadership lost"
			close(t.decided)
		}
		a.remove(t)
	}
	if term == 0 {
		a.recent = map[string]recent{}
	}
}

// addresses adds to held the participant addresses the active
// transactions name.
func (a *activeTable) addresses(held map[string]bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.txs {
		for _, p := range t.parts {
			held[p.GetAddress()] = true
		}
	}
}

func (a *activeTable) snapshot() []*verdictv1.Transaction {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*verdictv1.Transaction, 0, len(a.txs))
	for _, t := range a.txs {
		out = append(out, t.info())
	}
	return out
}

// info describes t; the caller holds the table's lock.
func (t *activeTx) info() *verdictv1.Transaction {
	return &verdictv1.Transaction{
		Txid:           t.id,
		State:          t.state,
		Participants:   t.participants(),
		DeadlineUnixMs: t.deadline.UnixMilli(),
		StagedCount:    uint32(len(t.messages)),
	}
}
