package coordinator

import (
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// ReasonInvalidRecord is the Result reason of a log record that the state
// machine ignored because it is malformed: a Decision with an empty txid or
// an outcome other than COMMITTED / ABORTED, or a record of no known kind.
const ReasonInvalidRecord = "invalid record"

// ReasonStaleCommit is the Result reason of a COMMIT ignored because it
// reached the log in a term other than the one it was decided in.
const ReasonStaleCommit = "commit decided in an earlier leader term"

// ErrBadStateSnapshot is returned (wrapped) by [State.Restore] when the data
// is not a valid serialised state.
var ErrBadStateSnapshot = errors.New("verdict: bad state snapshot")

// State is the transaction table built from the COMMIT / ABORT / DONE records
// of the replicated log: the coordinator's deterministic state machine.
//
// Every replica that applies the same batches in the same order holds the same
// table and produces the same Results and the same Snapshot bytes: State reads
// no clock, does no I/O, draws no random numbers and lets no map-iteration
// order leak into what it returns (every listing is sorted by txid).
//
// The safety rules of two-phase commit live here:
//   - The first Decision for a txid wins forever. A later Decision for that
//     txid, whatever its outcome, participants or reason, changes nothing; its
//     Result reports the outcome already recorded, so that a proposer learns
//     whether its own decision won.
//   - A Done record marks known txids done. It never changes an outcome, and
//     it is ignored for a txid without a decision (that decision may have been
//     pruned by a retention rule, or was never logged: presumed abort).
//   - A malformed record is ignored with a Result of OUTCOME_UNSPECIFIED and
//     reason [ReasonInvalidRecord]: the log must never crash a node.
//   - A COMMIT that reached the log in an entry of another term than the one
//     it was decided in is ignored with reason [ReasonStaleCommit] (see
//     [State.ApplyEntry]): its leader lost office in between, and a newer
//     leader may have presumed the transaction aborted. ABORT is always safe.
//
// Only decided transactions are held: ACTIVE and PREPARING ones live in the
// leader's memory, outside the log.
//
// State is not safe for concurrent use: the caller (the Raft apply loop and
// the readers it serves) holds a lock around every method call.
type State struct {
	// txs holds every decided transaction, done or not, keyed by txid.
	txs map[string]*txEntry
	// undone holds the subset of txs without a DONE record, so that the
	// recovery loop's Undone does not scan the retained done transactions.
	undone map[string]*txEntry
}

// txEntry is what State keeps for one decided transaction: a compact struct
// rather than a whole Transaction proto.
type txEntry struct {
	// participants is the slice of the Decision record that created the
	// entry (shared, never modified; copied on the way out).
	participants []*verdictv1.ParticipantRef
	reason       string
	decidedMs    int64
	deadlineMs   int64
	doneMs       int64
	outcome      verdictv1.Outcome // OUTCOME_COMMITTED or OUTCOME_ABORTED
	done         bool
}

// Result is what applying one log record produced.
//
// For a Decision record it is the outcome and reason now recorded for that
// txid: the record's own when it was the first decision, the earlier one
// otherwise. A proposer compares Outcome with what it proposed to learn
// whether its decision won. For an invalid record it is OUTCOME_UNSPECIFIED
// with reason [ReasonInvalidRecord]. For a Done record it is the zero Result.
type Result struct {
	Outcome verdictv1.Outcome
	Reason  string
}

// NewState returns an empty state.
func NewState() *State {
	return &State{
		txs:    make(map[string]*txEntry),
		undone: make(map[string]*txEntry),
	}
}

// ApplyBatch applies every record of b in order and returns one Result per
// record, at the same index. A nil batch yields no Results.
//
// State keeps references to the participant slices of b's Decision records:
// the caller must not modify b after the call (the apply loop unmarshals a
// fresh batch from each Raft entry, so this costs nothing).
func (s *State) ApplyBatch(b *verdictv1.LogBatch) []Result { return s.ApplyEntry(0, b) }

// ApplyEntry is ApplyBatch for a batch read from a log entry appended in
// term: a COMMIT decided in another term is ignored. Term 0 checks nothing.
func (s *State) ApplyEntry(term uint64, b *verdictv1.LogBatch) []Result {
	records := b.GetRecords()
	if len(records) == 0 {
		return nil
	}
	results := make([]Result, len(records))
	for i, rec := range records {
		results[i] = s.apply(term, rec)
	}
	return results
}

// apply applies one record from an entry of term.
func (s *State) apply(term uint64, rec *verdictv1.LogRecord) Result {
	switch k := rec.GetKind().(type) {
	case *verdictv1.LogRecord_Decision:
		if d := k.Decision; term != 0 && d.GetTerm() != 0 && d.GetTerm() != term &&
			d.GetOutcome() == verdictv1.Outcome_OUTCOME_COMMITTED {
			return Result{Reason: ReasonStaleCommit}
		}
		return s.applyDecision(k.Decision)
	case *verdictv1.LogRecord_Done:
		s.applyDone(k.Done)
		return Result{}
	default: // nil record, empty oneof, or a kind this version does not know
		return Result{Reason: ReasonInvalidRecord}
	}
}

// applyDecision records d unless its txid is decided already (rule 1).
func (s *State) applyDecision(d *verdictv1.Decision) Result {
	txid, outcome := d.GetTxid(), d.GetOutcome()
	if txid == "" || (outcome != verdictv1.Outcome_OUTCOME_COMMITTED && outcome != verdictv1.Outcome_OUTCOME_ABORTED) {
		return Result{Reason: ReasonInvalidRecord}
	}
	if e, ok := s.txs[txid]; ok {
		return Result{Outcome: e.outcome, Reason: e.reason}
	}
	e := &txEntry{
		participants: d.GetParticipants(),
		reason:       d.GetReason(),
		decidedMs:    d.GetDecidedUnixMs(),
		deadlineMs:   d.GetDeadlineUnixMs(),
		outcome:      outcome,
	}
	s.txs[txid] = e
	s.undone[txid] = e
	return Result{Outcome: outcome, Reason: e.reason}
}

// applyDone marks the known txids of d done. A txid already done keeps its
// first done time, so that a retention window measured from it is stable.
func (s *State) applyDone(d *verdictv1.Done) {
	for _, txid := range d.GetTxids() {
		e, ok := s.undone[txid]
		if !ok {
			continue // unknown (ignored) or already done (kept)
		}
		e.done = true
		e.doneMs = d.GetDoneUnixMs()
		delete(s.undone, txid)
	}
}

// Get returns what is recorded for txid, as a copy the caller owns.
func (s *State) Get(txid string) (*verdictv1.Transaction, bool) {
	e, ok := s.txs[txid]
	if !ok {
		return nil, false
	}
	return e.transaction(txid, true), true
}

// Undone returns the decided transactions without a DONE record, sorted by
// txid (a UUIDv7 sorts by creation time, so the oldest come first), as copies
// the caller owns.
func (s *State) Undone() []*verdictv1.Transaction {
	ids := make([]string, 0, len(s.undone))
	for txid := range s.undone {
		ids = append(ids, txid)
	}
	slices.Sort(ids)
	txs := make([]*verdictv1.Transaction, len(ids))
	for i, txid := range ids {
		txs[i] = s.undone[txid].transaction(txid, true)
	}
	return txs
}

// List returns, sorted by txid, at most limit transactions (no bound when
// limit <= 0) whose txid sorts after afterTxid ("" starts at the beginning),
// in the given state (TX_STATE_UNSPECIFIED means any; ACTIVE and PREPARING
// match nothing, since State holds only decided transactions), leaving out
// those marked done unless includeDone. The transactions are copies the
// caller owns.
//
// next is the txid to pass as afterTxid for the following page, or "" when
// this page is the last one.
//
// The cost is one pass over the table (only the undone part when
// !includeDone) plus O(limit) memory: the page is kept in a bounded heap
// rather than by sorting every match.
func (s *State) List(state verdictv1.TxState, includeDone bool, afterTxid string, limit int) (txs []*verdictv1.Transaction, next string) {
	var want verdictv1.Outcome // OUTCOME_UNSPECIFIED: any outcome
	switch state {
	case verdictv1.TxState_TX_STATE_UNSPECIFIED:
	case verdictv1.TxState_TX_STATE_COMMITTED:
		want = verdictv1.Outcome_OUTCOME_COMMITTED
	case verdictv1.TxState_TX_STATE_ABORTED:
		want = verdictv1.Outcome_OUTCOME_ABORTED
	default:
		return nil, ""
	}
	src := s.txs
	if !includeDone {
		src = s.undone
	}
	// Keep the limit+1 smallest matching txids: the extra one tells whether
	// another page follows.
	bound := 0
	if limit > 0 {
		bound = limit + 1
	}
	var ids []string
	for txid, e := range src {
		if txid <= afterTxid || (want != verdictv1.Outcome_OUTCOME_UNSPECIFIED && e.outcome != want) {
			continue
		}
		ids = pushSmallest(ids, txid, bound)
	}
	slices.Sort(ids)
	if limit > 0 && len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	txs = make([]*verdictv1.Transaction, len(ids))
	for i, txid := range ids {
		txs[i] = s.txs[txid].transaction(txid, true)
	}
	return txs, next
}

// Len returns the number of transactions in the table, done or not.
func (s *State) Len() int { return len(s.txs) }

// Snapshot serialises the whole table as a StateSnapshot, transactions sorted
// by txid, marshaled deterministically: replicas with equal tables produce
// equal bytes.
func (s *State) Snapshot() ([]byte, error) {
	ids := make([]string, 0, len(s.txs))
	for txid := range s.txs {
		ids = append(ids, txid)
	}
	slices.Sort(ids)
	snap := &verdictv1.StateSnapshot{Transactions: make([]*verdictv1.Transaction, len(ids))}
	for i, txid := range ids {
		// Marshal only reads: no need to copy the participants.
		snap.Transactions[i] = s.txs[txid].transaction(txid, false)
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("verdict: marshal state snapshot: %w", err)
	}
	return data, nil
}

// Restore replaces the whole state with the one serialised in data, as
// produced by [State.Snapshot]. An empty data means an empty state.
//
// Restore validates everything before it changes anything: on error (data
// that does not unmarshal, a transaction without txid, a txid listed twice, a
// state other than COMMITTED / ABORTED), it returns an error wrapping
// [ErrBadStateSnapshot] and leaves the previous state untouched.
//
// The leader-only fields of a Transaction (acked, last_error) are not part of
// the state machine and are dropped.
func (s *State) Restore(data []byte) error {
	var snap verdictv1.StateSnapshot
	if err := proto.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("%w: %w", ErrBadStateSnapshot, err)
	}
	txs := make(map[string]*txEntry, len(snap.GetTransactions()))
	undone := make(map[string]*txEntry)
	for i, tx := range snap.GetTransactions() {
		txid := tx.GetTxid()
		if txid == "" {
			return fmt.Errorf("%w: transaction %d has no txid", ErrBadStateSnapshot, i)
		}
		if _, dup := txs[txid]; dup {
			return fmt.Errorf("%w: txid %q listed twice", ErrBadStateSnapshot, txid)
		}
		var outcome verdictv1.Outcome
		switch tx.GetState() {
		case verdictv1.TxState_TX_STATE_COMMITTED:
			outcome = verdictv1.Outcome_OUTCOME_COMMITTED
		case verdictv1.TxState_TX_STATE_ABORTED:
			outcome = verdictv1.Outcome_OUTCOME_ABORTED
		default:
			return fmt.Errorf("%w: txid %q has state %v", ErrBadStateSnapshot, txid, tx.GetState())
		}
		e := &txEntry{
			participants: tx.GetParticipants(),
			reason:       tx.GetReason(),
			decidedMs:    tx.GetDecidedUnixMs(),
			deadlineMs:   tx.GetDeadlineUnixMs(),
			doneMs:       tx.GetDoneUnixMs(),
			outcome:      outcome,
			done:         tx.GetDone(),
		}
		txs[txid] = e
		if !e.done {
			undone[txid] = e
		}
	}
	s.txs, s.undone = txs, undone
	return nil
}

// transaction returns e as a Transaction. With copyParticipants the result
// shares nothing with the state; without, it shares the participant refs and
// must only be read.
func (e *txEntry) transaction(txid string, copyParticipants bool) *verdictv1.Transaction {
	state := verdictv1.TxState_TX_STATE_ABORTED
	if e.outcome == verdictv1.Outcome_OUTCOME_COMMITTED {
		state = verdictv1.TxState_TX_STATE_COMMITTED
	}
	parts := e.participants
	if copyParticipants && parts != nil {
		parts = make([]*verdictv1.ParticipantRef, len(e.participants))
		for i, p := range e.participants {
			parts[i] = proto.CloneOf(p)
		}
	}
	return &verdictv1.Transaction{
		Txid:           txid,
		State:          state,
		Done:           e.done,
		Participants:   parts,
		Reason:         e.reason,
		DeadlineUnixMs: e.deadlineMs,
		DecidedUnixMs:  e.decidedMs,
		DoneUnixMs:     e.doneMs,
	}
}

// pushSmallest adds id to h, a max-heap of the smallest ids seen so far,
// keeping at most bound of them (no bound when bound <= 0).
func pushSmallest(h []string, id string, bound int) []string {
	if bound <= 0 {
		return append(h, id) // unbounded: the caller sorts everything
	}
	if len(h) < bound {
		h = append(h, id)
		for i := len(h) - 1; i > 0; { // sift up
			parent := (i - 1) / 2
			if h[parent] >= h[i] {
				break
			}
			h[parent], h[i] = h[i], h[parent]
			i = parent
		}
		return h
	}
	if id >= h[0] {
		return h
	}
	h[0] = id
	for i := 0; ; { // sift down
		largest, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h[l] > h[largest] {
			largest = l
		}
		if r < len(h) && h[r] > h[largest] {
			largest = r
		}
		if largest == i {
			return h
		}
		h[i], h[largest] = h[largest], h[i]
		i = largest
	}
}
