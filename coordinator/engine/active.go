package engine

import (
	"slices"
	"strings"
	"sync"
	"time"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// txPhase is where a transaction in the leader's memory stands. Only the
// methods of activeTable in this file read or change it, under the table's
// lock; the API sees it as a verdictv1.TxState (activeTx.txState).
type txPhase uint8

const (
	// phaseActive: begun. Enlist and StageMessages add to it (before its
	// deadline); Commit may start its decision; Abort, a refused Commit or
	// the deadline abort it.
	phaseActive txPhase = iota
	// phasePreparing: Commit started the decision, once (startCommit); its
	// participants and messages are fixed and only the commit path decides
	// it. Abort only records a request, which the decision honours if it
	// comes before the decision is logged.
	phasePreparing
	// phaseDecided: final. An abort claimed it while it was active
	// (claimAbort), or it was finished with an outcome, or given up as
	// unknown on a leader change; nothing changes it any more.
	phaseDecided
)

// activeTx is a transaction that lives only in the leader's memory: begun,
// perhaps preparing, not yet decided. A leader change forgets it, and the
// new leader answers "aborted" for it (presumed abort).
type activeTx struct {
	id       string
	deadline time.Time
	term     uint64 // the leader term in which it began
	client   string // who began it (auth.identity), for MaxOpenPerClient
	// stamped: its initiator began it (stamped.go); its outcome is then
	// kept while a stamp could register its txid again.
	stamped bool

	// trace is the decision's span (Tracer.Ref); set once, before the
	// decision runs, by the goroutine that runs it.
	trace SpanRef

	// committing is when Commit started phase 1 (for the commit latency
	// metric); set once, before the decision runs.
	committing time.Time

	// Guarded by activeTable.mu.
	phase txPhase
	// end is the outcome of a decided transaction (UNSPECIFIED when
	// unknown); set with phaseDecided.
	end   verdictv1.Outcome
	parts map[string]*verdictv1.ParticipantRef
	// early names the participants that enlisted with a YES vote: they
	// prepared before enlisting and admit no more work, so the decision
	// sends them no Prepare. Kept with the enlistment in this leader's
	// memory only: a leader change forgets t, and the next leader
	// presumes it aborted, which a prepared participant learns from its
	// recovery loop, as for a YES given to Prepare.
	early          map[string]bool
	abortRequested string
	// messages are the staged messages (StageMessages, then Commit's),
	// stagedBytes their encoded size; fixed once preparing.
	messages    []*verdictv1.StagedMessage
	stagedBytes int

	// decided is closed when the commit path has an outcome; outcome and
	// reason are set before.
	decided chan struct{}
	outcome verdictv1.Outcome
	reason  string
}

// participants lists t's participants by name: the order of the prepares
// and of the decision record does not hang on a map's.
func (t *activeTx) participants() []*verdictv1.ParticipantRef {
	out := make([]*verdictv1.ParticipantRef, 0, len(t.parts))
	for _, p := range t.parts {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *verdictv1.ParticipantRef) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// recent is an outcome the leader remembers without a log record: one-phase
// and read-only commits, and aborts whose record is still on its way.
type recent struct {
	outcome verdictv1.Outcome
	reason  string
	at      time.Time
	stamped bool // of a stamped transaction (see activeTx.stamped)
}

// activeTable holds the leader's active transactions and recent outcomes.
type activeTable struct {
	mu     sync.Mutex
	txs    map[string]*activeTx
	recent map[string]recent
	open   map[string]int // transactions in txs per client ("": unattributed)
	// tombs are the txids answered "aborted" while unknown, which no stamp
	// may register (stamped.go), each until it could no longer be; floor,
	// once tombs are full: no txid at or below it is registered.
	tombs map[string]time.Time
	floor string
	// mono is the engine's monotone clock (Engine.stampNow) and admits
	// reports whether a stamped txid may be registered at its reading:
	// both are read under mu, so that a registration and the expiry of a
	// tombstone or a recent outcome are ordered by one clock.
	mono   func() time.Time
	admits func(id string, now time.Time) bool
	// serving is the term whose transactions may be registered: the one
	// the last clearExcept kept (0 when none). A request that found this
	// node ready, but reaches the table after leadership was handled
	// again, is refused here, under the lock the clearing holds: it never
	// registers anything in a term whose memory was just forgotten.
	serving uint64
}

func newActiveTable() *activeTable {
	return &activeTable{
		txs: map[string]*activeTx{}, recent: map[string]recent{}, open: map[string]int{}, tombs: map[string]time.Time{},
		mono: time.Now, admits: func(string, time.Time) bool { return true },
	}
}

// addStamped holds t, a transaction its initiator began itself, and returns
// it; or the transaction a concurrent call registered first; or an error if
// t's id has an outcome here already (a tombstone, the floor, a recent
// outcome) or the limit of its client (unattributed: of all unattributed
// transactions) is reached.
func (a *activeTable) addStamped(t *activeTx, limit, unattributed int) (*activeTx, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.term != a.serving {
		return nil, errNotLeader()
	}
	if cur, ok := a.txs[t.id]; ok {
		return cur, nil
	}
	if !a.admits(t.id, a.mono()) {
		return nil, errorf(ErrNotActive,
			"verdict: transaction %s was made too far from this leader's clock to be begun without Begin: aborted", t.id)
	}
	if _, ok := a.tombs[t.id]; ok || t.id <= a.floor {
		return nil, errorf(ErrNotActive, "verdict: transaction %s is already aborted", t.id)
	}
	if r, ok := a.recent[t.id]; ok {
		return nil, errorf(ErrNotActive, "verdict: transaction %s is already %s", t.id, OutcomeWord(r.outcome))
	}
	switch {
	case t.client == "" && !a.holdLocked(t, unattributed):
		return nil, errorf(ErrLimit, "verdict: %d transactions registered by enlistments are open, the maximum; commit or abort some first", unattributed)
	case t.client != "" && !a.holdLocked(t, limit):
		return nil, errOpenLimit(t.client, limit)
	}
	return t, nil
}

// tombResult is what tombstone did.
type tombResult int

const (
	tombed     tombResult = iota // marked (a tombstone, or the floor)
	registered                   // id is held or decided meanwhile: nothing marked
	tombsFull                    // no room, and the floor may not be used
	notServing                   // term is not the one served: nothing marked
)

// tombstone marks id, unknown here, as answered "aborted" until until,
// if term is the one served. Past max tombstones it raises the floor to
// id instead, unless noFloor (an id far ahead of the clock, which would
// raise the floor for long).
func (a *activeTable) tombstone(id string, term uint64, until time.Time, max int, noFloor bool) tombResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	if term != a.serving {
		return notServing // its memory may be forgotten already
	}
	if _, ok := a.txs[id]; ok {
		return registered
	}
	if _, ok := a.recent[id]; ok {
		return registered
	}
	switch _, ok := a.tombs[id]; {
	case ok || len(a.tombs) < max:
		a.tombs[id] = until
	case noFloor:
		return tombsFull
	case id > a.floor:
		a.floor = id
	}
	return tombed
}

// expireTombs forgets the tombstones past their time (by the engine's
// monotone clock).
func (a *activeTable) expireTombs() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.mono()
	for id, until := range a.tombs {
		if now.After(until) {
			delete(a.tombs, id)
		}
	}
}

// serves reports whether term is the one served: then no leadership
// change forgot this term's memory since the caller found the node ready
// in it (a term is never served again once left).
func (a *activeTable) serves(term uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return term == a.serving
}

// add holds t, unless its client has limit transactions open already
// (ErrLimit) or t's term is not the one served (ErrNotLeader).
func (a *activeTable) add(t *activeTx, limit int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.term != a.serving {
		return errNotLeader()
	}
	if !a.holdLocked(t, limit) {
		return errOpenLimit(t.client, limit)
	}
	return nil
}

// holdLocked holds t, unless its client has limit transactions open
// already; the caller holds a.mu.
func (a *activeTable) holdLocked(t *activeTx, limit int) bool {
	if a.open[t.client] >= limit {
		return false
	}
	a.open[t.client]++
	a.txs[t.id] = t
	return true
}

// errOpenLimit refuses one more open transaction to client.
func errOpenLimit(client string, limit int) error {
	return errorf(ErrLimit, "verdict: client %s has %d open transactions, the maximum (--max-open-per-client); commit or abort some first", client, limit)
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
	t.phase, t.end = phaseDecided, o
	if o == verdictv1.Outcome_OUTCOME_COMMITTED || o == verdictv1.Outcome_OUTCOME_ABORTED {
		a.recent[t.id] = recent{outcome: o, reason: reason, at: now, stamped: t.stamped}
	}
	close(t.decided)
	return true
}

// finish finishes t with its outcome (see activeTable.finish) and records
// the decision in its timeline; an unknown outcome, which no phase 2
// follows, ends the timeline.
func (c *Engine) finish(t *activeTx, o verdictv1.Outcome, reason string) {
	// Recent outcomes are timed by the engine's monotone clock (stamped.go).
	if !c.active.finish(t, o, reason, c.stampNow()) {
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

// expired returns the active transactions whose deadline has passed at now
// and are not preparing (the commit path owns those), and forgets recent
// outcomes older than keep by the engine's monotone clock, those of
// stamped transactions older than keepStamped.
func (a *activeTable) expired(now time.Time, keep, keepStamped time.Duration) []*activeTx {
	a.mu.Lock()
	defer a.mu.Unlock()
	mono := a.mono()
	var out []*activeTx
	for _, t := range a.txs {
		if t.phase == phaseActive && now.After(t.deadline) {
			out = append(out, t)
		}
	}
	for id, r := range a.recent {
		if age := mono.Sub(r.at); age > keep && (!r.stamped || age > keepStamped) {
			delete(a.recent, id)
		}
	}
	return out
}

// clearExcept forgets every transaction not begun in term, and all recent
// outcomes if any was forgotten: leadership changed hands. Waiters are woken
// with an unknown outcome. From then on only transactions of term are
// registered (0: none).
func (a *activeTable) clearExcept(term uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.serving = term
	for _, t := range a.txs {
		if t.term == term {
			continue
		}
		select {
		case <-t.decided:
		default:
			t.outcome = verdictv1.Outcome_OUTCOME_UNSPECIFIED
			t.reason = "leadership lost"
			t.phase, t.end = phaseDecided, t.outcome
			close(t.decided)
		}
		a.remove(t)
	}
	if term == 0 {
		a.recent = map[string]recent{}
	}
	// Stamps of another term are refused anyway.
	a.tombs, a.floor = map[string]time.Time{}, ""
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

// info describes t.
func (a *activeTable) info(t *activeTx) *verdictv1.Transaction {
	a.mu.Lock()
	defer a.mu.Unlock()
	return t.info()
}

// state is t's state as the API names it.
func (a *activeTable) state(t *activeTx) verdictv1.TxState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return t.txState()
}

// info describes t; the caller holds the table's lock.
func (t *activeTx) info() *verdictv1.Transaction {
	return &verdictv1.Transaction{
		Txid:           t.id,
		State:          t.txState(),
		Participants:   t.participants(),
		DeadlineUnixMs: t.deadline.UnixMilli(),
		StagedCount:    uint32(len(t.messages)),
	}
}

// txState is t's phase as the API names it: a decided transaction by its
// outcome. The caller holds the table's lock.
func (t *activeTx) txState() verdictv1.TxState {
	switch t.phase {
	case phaseActive:
		return verdictv1.TxState_TX_STATE_ACTIVE
	case phasePreparing:
		return verdictv1.TxState_TX_STATE_PREPARING
	}
	return txStateOf(t.end)
}

// txLimits are what the transitions below check, from the coordinator's
// configuration, and the time they check deadlines against.
type txLimits struct {
	now            time.Time
	maxParts       int               // participants per transaction
	maxAddresses   int               // participant addresses in use
	admit          func(string) bool // takes an address into use, false if full
	maxStagedBytes int               // staged message bytes per transaction
	messagesOn     bool              // NATS is configured
}

// enlist adds participant p to t, which must be active and not past its
// deadline, with its early YES vote if yes. It reports whether p was new (a
// repeat at the same address is no error) and whether its YES was
// recorded now. Nothing is recorded when it fails.
func (a *activeTable) enlist(t *activeTx, p *verdictv1.ParticipantRef, yes bool, l txLimits) (added, voted bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case t.phase != phaseActive:
		return false, false, errorf(ErrNotActive, "verdict: transaction %s is %s; too late to enlist", t.id, stateWord(t.txState()))
	case l.now.After(t.deadline):
		return false, false, errorf(ErrNotActive, "verdict: transaction %s has passed its deadline", t.id)
	}
	if prev, ok := t.parts[p.GetName()]; ok {
		if prev.GetAddress() != p.GetAddress() {
			return false, false, errorf(ErrInvalid, "verdict: participant %q already enlisted at %s, not %s", p.GetName(), prev.GetAddress(), p.GetAddress())
		}
	} else {
		if len(t.parts) >= l.maxParts {
			return false, false, errorf(ErrLimit, "verdict: transaction %s has the maximum of %d participants", t.id, l.maxParts)
		}
		if !l.admit(p.GetAddress()) {
			return false, false, errAddressesFull(l.maxAddresses)
		}
		t.parts[p.GetName()] = &verdictv1.ParticipantRef{Name: p.GetName(), Address: p.GetAddress()}
		added = true
	}
	if yes && !t.early[p.GetName()] {
		if t.early == nil {
			t.early = map[string]bool{}
		}
		t.early[p.GetName()] = true
		voted = true
	}
	return added, voted, nil
}

// stage adds msgs, of encoded size size, to t's staged messages while t is
// active and not past its deadline, and within the bytes allowed. It
// returns how many messages t has staged.
func (a *activeTable) stage(t *activeTx, msgs []*verdictv1.StagedMessage, size int, l txLimits) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case t.phase != phaseActive:
		return 0, errorf(ErrNotActive, "verdict: transaction %s is %s; too late to stage messages", t.id, stateWord(t.txState()))
	case l.now.After(t.deadline):
		return 0, errorf(ErrNotActive, "verdict: transaction %s has passed its deadline", t.id)
	}
	if err := checkStagedSize(t.id, t.stagedBytes, size, l.maxStagedBytes); err != nil {
		return 0, err
	}
	t.messages = append(t.messages, msgs...)
	t.stagedBytes += size
	return len(t.messages), nil
}

// commitStart is what startCommit made of a Commit.
type commitStart struct {
	start    bool                        // t is preparing now: the caller runs the decision
	enlisted []*verdictv1.ParticipantRef // participants the Commit named and enlisted
	nparts   int                         // participants of t
	nearly   int                         // of them, those that enlisted with their YES
	// refuse, if not "", is why t must be aborted instead (it is left
	// active for abort to claim), cause the abort's cause, and err the
	// answer to the Commit if it is not the outcome.
	refuse string
	cause  AbortCause
	err    error
}

// startCommit moves t from active to preparing, once: it enlists the
// participants the Commit names and stages its messages, unless a limit or
// the deadline refuses the commit. A transaction no longer active is left
// as it is (start false, nothing refused): its Commit waits for the
// outcome.
func (a *activeTable) startCommit(t *activeTx, parts []*verdictv1.ParticipantRef, msgs []*verdictv1.StagedMessage, l txLimits) commitStart {
	a.mu.Lock()
	defer a.mu.Unlock()
	var cs commitStart
	if t.phase != phaseActive {
		cs.nparts = len(t.parts)
		return cs
	}
	cs.cause = AbortRefused
	t.committing = time.Now()
	full := false
	for _, p := range parts {
		if _, ok := t.parts[p.GetName()]; ok {
			continue
		}
		if full = !l.admit(p.GetAddress()); full {
			break
		}
		ref := &verdictv1.ParticipantRef{Name: p.GetName(), Address: p.GetAddress()}
		t.parts[p.GetName()] = ref
		cs.enlisted = append(cs.enlisted, ref)
	}
	cs.nparts, cs.nearly = len(t.parts), len(t.early)
	switch {
	case l.now.After(t.deadline):
		cs.refuse, cs.cause = "deadline passed before commit", AbortDeadline
	case full:
		cs.err = errAddressesFull(l.maxAddresses)
		cs.refuse = reasonf("more than %d participant addresses in use", l.maxAddresses)
	case len(t.parts) > l.maxParts:
		cs.refuse = reasonf("more than %d participants", l.maxParts)
	case len(msgs) > 0 && !l.messagesOn:
		cs.err = errMessagesOff(t.id)
		cs.refuse = "transactional messages are off (no NATS configured)"
	case len(msgs) > 0:
		size := stagedSize(msgs)
		if cs.err = checkStagedSize(t.id, t.stagedBytes, size, l.maxStagedBytes); cs.err != nil {
			cs.refuse = reasonf("staged messages exceed %d bytes", l.maxStagedBytes)
			break
		}
		t.messages = append(t.messages, msgs...)
		t.stagedBytes += size
		t.phase, cs.start = phasePreparing, true
	default:
		t.phase, cs.start = phasePreparing, true
	}
	return cs
}

// commitInputs returns the participants and staged messages of t, which
// is preparing: both are fixed now.
func (a *activeTable) commitInputs(t *activeTx) ([]*verdictv1.ParticipantRef, []*verdictv1.StagedMessage) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return t.participants(), t.messages
}

// votedEarly reports whether participant name enlisted in t with a YES.
// Only enlist adds to it, while t is active: once t is preparing it is
// fixed.
func (a *activeTable) votedEarly(t *activeTx, name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return t.early[name]
}

// requestAbort asks that t be aborted. A preparing t only records the
// first request (first reports that this was it), for the decision to
// honour; otherwise the caller aborts t (see claimAbort).
func (a *activeTable) requestAbort(t *activeTx, reason string) (preparing, first bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.phase != phasePreparing {
		return false, false
	}
	if t.abortRequested != "" {
		return true, false
	}
	t.abortRequested = reason
	return true, true
}

// abortRequest is the reason of the first abort requested while t was
// preparing, or "".
func (a *activeTable) abortRequest(t *activeTx) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return t.abortRequested
}

// claimAbort decides t aborted if it is still active, and returns its
// participants; false if the commit path or another abort has it already.
func (a *activeTable) claimAbort(t *activeTx) ([]*verdictv1.ParticipantRef, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.phase != phaseActive {
		return nil, false
	}
	t.phase, t.end = phaseDecided, verdictv1.Outcome_OUTCOME_ABORTED
	return t.participants(), true
}

// errAddressesFull answers a transaction that names a participant address
// there is no room for (Participants.Admit refused it).
func errAddressesFull(max int) error {
	return errorf(ErrLimit, "verdict: %d participant addresses are in use, the maximum (--max-participant-addresses); try again once some have gone idle", max)
}
