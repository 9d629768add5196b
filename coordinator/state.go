package coordinator

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/verdict-tx/verdict/internal/txid"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// ReasonInvalidRecord is the Result reason of a log record that the state
// machine ignored because it is malformed: a Decision with an empty txid or
// an outcome other than COMMITTED / ABORTED, or a record of no known kind.
const ReasonInvalidRecord = "invalid record"

// ReasonStaleCommit is the Result reason of a COMMIT ignored because it
// reached the log in a term other than the one it was decided in.
const ReasonStaleCommit = "commit decided in an earlier leader term"

// ReasonOnePhase is the reason recorded for a transaction committed in one
// phase (see [logv1.Done]'s one_phase).
const ReasonOnePhase = "committed in one phase"

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
//     pruned by a retention rule, or was never logged: presumed abort). Its
//     one-phase commits (a single participant, committed without a COMMIT
//     record, recorded lazily by the leader) are added as COMMITTED and done
//     unless the txid is decided already, so that a later leader knows them.
//   - A Prune record ends the retention of done transactions (see
//     [State.Expired]): only done ones are ever pruned, so an undone decision
//     stays until its phase 2 completes.
//   - A COMMIT's staged messages are kept while it is undone (the leader
//     publishes them in phase 2, a new leader again) and dropped at its
//     DONE. An ABORT keeps none: its messages are never published.
//   - A HeuristicResolution record (an operator's tx forget) marks one
//     participant of a decided, undone transaction as resolved by hand, so
//     that phase 2 stops waiting for it; it never changes an outcome, and
//     is ignored for anything else (see [State.applyHeuristic]).
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
	// doneOrder lists the done txids in the order they became done, from
	// doneHead on (the ones before it are pruned): Prune pops its head, so
	// its cost is the number of entries it removes. Snapshots keep this
	// order, so every replica prunes the same entries.
	doneOrder []string
	doneHead  int
	// prunedBefore is the horizon of retention, in Unix milliseconds: one
	// past the creation time of the newest transaction pruned, so that it
	// depends on no clock but the ones that made those txids.
	prunedBefore int64
	// doneStampMs and pruneStampMs are the newest DONE time and Prune
	// before applied: the log's own time, which a new leader keeps up with
	// (see [State.LogTime]). They answer nothing and are not snapshotted.
	doneStampMs, pruneStampMs int64
	// messages holds the staged messages of the undone COMMITs that have
	// any (a separate map, so that transactions without messages cost the
	// table nothing). They are dropped at DONE: they are published by then.
	messages map[string][]*verdictv1.StagedMessage
	// refs interns participant refs: the transactions of a service mostly
	// name the same few participants, so each table entry holds pointers to
	// one shared copy instead of its own.
	refs map[refKey]*verdictv1.ParticipantRef
}

// refKey identifies an interned participant ref.
type refKey struct{ name, address string }

// txEntry is what State keeps for one decided transaction: a compact struct
// rather than a whole Transaction proto.
type txEntry struct {
	// participants holds interned refs (shared, never modified; copied on
	// the way out).
	participants []*verdictv1.ParticipantRef
	reason       string
	decidedMs    int64
	deadlineMs   int64
	doneMs       int64
	outcome      verdictv1.Outcome // OUTCOME_COMMITTED or OUTCOME_ABORTED
	done         bool
	// heuristics are operators' resolutions of participants' phase 2, in
	// log order (nil for nearly every transaction; never modified, copied
	// on the way out).
	heuristics []*verdictv1.HeuristicResolution
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
		txs:      make(map[string]*txEntry),
		undone:   make(map[string]*txEntry),
		messages: make(map[string][]*verdictv1.StagedMessage),
		refs:     make(map[refKey]*verdictv1.ParticipantRef),
	}
}

// ApplyBatch applies every record of b in order and returns one Result per
// record, at the same index. A nil batch yields no Results. State keeps no
// reference into b (staged messages are copied).
func (s *State) ApplyBatch(b *logv1.LogBatch) []Result { return s.ApplyEntry(0, b) }

// ApplyEntry is ApplyBatch for a batch read from a log entry appended in
// term: a COMMIT decided in another term is ignored. Term 0 checks nothing.
func (s *State) ApplyEntry(term uint64, b *logv1.LogBatch) []Result {
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
func (s *State) apply(term uint64, rec *logv1.LogRecord) Result {
	switch k := rec.GetKind().(type) {
	case *logv1.LogRecord_Decision:
		if d := k.Decision; term != 0 && d.GetTerm() != 0 && d.GetTerm() != term &&
			d.GetOutcome() == verdictv1.Outcome_OUTCOME_COMMITTED {
			return Result{Reason: ReasonStaleCommit}
		}
		return s.applyDecision(k.Decision)
	case *logv1.LogRecord_Done:
		s.applyDone(k.Done)
		return Result{}
	case *logv1.LogRecord_Prune:
		s.applyPrune(k.Prune.GetBeforeUnixMs())
		return Result{}
	case *logv1.LogRecord_Heuristic:
		return s.applyHeuristic(k.Heuristic)
	default: // nil record, empty oneof, or a kind this version does not know
		return Result{Reason: ReasonInvalidRecord}
	}
}

// applyDecision records d unless its txid is decided already (rule 1).
func (s *State) applyDecision(d *logv1.Decision) Result {
	txid, outcome := d.GetTxid(), d.GetOutcome()
	if txid == "" || (outcome != verdictv1.Outcome_OUTCOME_COMMITTED && outcome != verdictv1.Outcome_OUTCOME_ABORTED) {
		return Result{Reason: ReasonInvalidRecord}
	}
	if e, ok := s.txs[txid]; ok {
		return Result{Outcome: e.outcome, Reason: e.reason}
	}
	e := &txEntry{
		participants: s.intern(d.GetParticipants()),
		reason:       d.GetReason(),
		decidedMs:    d.GetDecidedUnixMs(),
		deadlineMs:   d.GetDeadlineUnixMs(),
		outcome:      outcome,
	}
	s.txs[txid] = e
	s.undone[txid] = e
	if msgs := d.GetMessages(); len(msgs) > 0 && outcome == verdictv1.Outcome_OUTCOME_COMMITTED {
		s.messages[txid] = cloneAll(msgs)
	}
	return Result{Outcome: outcome, Reason: e.reason}
}

// applyDone marks the known txids of d done. A txid already done keeps its
// first done time, so that a retention window measured from it is stable.
// Each one-phase commit of d that the table lacks is added as COMMITTED and
// done (rule 1 still holds: one the table has keeps its decision).
func (s *State) applyDone(d *logv1.Done) {
	for _, op := range d.GetOnePhase() {
		txid := op.GetTxid()
		if _, ok := s.txs[txid]; ok || txid == "" || op.GetParticipant() == nil {
			continue
		}
		s.txs[txid] = &txEntry{
			participants: s.intern([]*verdictv1.ParticipantRef{op.GetParticipant()}),
			reason:       ReasonOnePhase,
			decidedMs:    op.GetDecidedUnixMs(),
			doneMs:       d.GetDoneUnixMs(),
			outcome:      verdictv1.Outcome_OUTCOME_COMMITTED,
			done:         true,
		}
		s.doneOrder = append(s.doneOrder, txid)
	}
	s.doneStampMs = max(s.doneStampMs, d.GetDoneUnixMs())
	for _, txid := range d.GetTxids() {
		e, ok := s.undone[txid]
		if !ok {
			continue // unknown (ignored) or already done (kept)
		}
		e.done = true
		e.doneMs = d.GetDoneUnixMs()
		delete(s.undone, txid)
		delete(s.messages, txid)
		s.doneOrder = append(s.doneOrder, txid)
	}
}

// applyPrune drops, oldest done first, the done transactions that were both
// created and marked done before before, and moves the retention horizon
// past the creation time of each one it drops: never to before itself, so
// that a Prune computed by a clock far ahead makes no txid it did not prune
// "expired". It stops at the first done transaction that does not qualify
// (a clock of an earlier leader ran ahead): that one and those after it
// wait for a later Prune.
func (s *State) applyPrune(before int64) {
	s.pruneStampMs = max(s.pruneStampMs, before)
	for s.doneHead < len(s.doneOrder) {
		id := s.doneOrder[s.doneHead]
		e := s.txs[id]
		created := createdMs(id)
		if e.doneMs >= before || created >= before {
			break
		}
		s.prunedBefore = max(s.prunedBefore, created+1)
		delete(s.txs, id)
		s.doneOrder[s.doneHead] = ""
		s.doneHead++
	}
	if s.doneHead > 1024 && s.doneHead > len(s.doneOrder)/2 {
		s.doneOrder = slices.Clone(s.doneOrder[s.doneHead:])
		s.doneHead = 0
	}
}

// Expired reports whether txid, which the table does not hold, may have been
// decided and pruned since: it was created no later than the newest pruned
// transaction. Its outcome is then unknown, never presumed.
func (s *State) Expired(txid string) bool {
	return s.prunedBefore != 0 && createdMs(txid) < s.prunedBefore
}

// LogTime is the newest time the log vouches for, in Unix milliseconds, for
// a leader whose retention is retention: the newest DONE time applied, or
// the newest Prune's before plus retention (a Prune is proposed for the
// proposer's now minus its retention), whichever is later. After a Restore
// it is the newest retained DONE time or the horizon plus retention, which
// are earlier. 0 for a log that holds no time yet.
func (s *State) LogTime(retention time.Duration) int64 {
	t := s.doneStampMs
	if p := max(s.pruneStampMs, s.prunedBefore); p != 0 {
		t = max(t, p+retention.Milliseconds())
	}
	return t
}

// createdMs is the creation time of a txid (a UUIDv7), in Unix milliseconds;
// 0 for a malformed one, which the log never holds.
func createdMs(id string) int64 {
	t, err := txid.Time(id)
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

// intern returns parts with each ref replaced by the table's shared copy.
func (s *State) intern(parts []*verdictv1.ParticipantRef) []*verdictv1.ParticipantRef {
	if len(parts) == 0 {
		return nil
	}
	out := make([]*verdictv1.ParticipantRef, len(parts))
	for i, p := range parts {
		key := refKey{p.GetName(), p.GetAddress()}
		ref, ok := s.refs[key]
		if !ok {
			ref = &verdictv1.ParticipantRef{Name: key.name, Address: key.address}
			s.refs[key] = ref
		}
		out[i] = ref
	}
	return out
}

// Get returns what is recorded for txid, as a copy the caller owns. Its
// staged messages are counted (StagedCount), not copied: see Messages.
func (s *State) Get(txid string) (*verdictv1.Transaction, bool) {
	e, ok := s.txs[txid]
	if !ok {
		return nil, false
	}
	tx := e.transaction(txid, true)
	tx.StagedCount = uint32(len(s.messages[txid]))
	return tx, true
}

// Messages returns the staged messages of an undone COMMIT, nil for any
// other txid. The slice and the messages are the table's own: the caller
// must only read them.
func (s *State) Messages(txid string) []*verdictv1.StagedMessage { return s.messages[txid] }

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
		txs[i].StagedCount = uint32(len(s.messages[txid]))
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
	return s.ListMatching(ListFilter{State: state, IncludeDone: includeDone}, afterTxid, limit)
}

// ListFilter selects transactions for [State.ListMatching] (and the
// leader's listings of its memory).
type ListFilter struct {
	// State keeps transactions in this state; TX_STATE_UNSPECIFIED: any.
	State verdictv1.TxState
	// IncludeDone keeps the transactions marked done too.
	IncludeDone bool
	// CreatedBeforeMs, if not 0, keeps the transactions whose txid was
	// created before this time (Unix milliseconds).
	CreatedBeforeMs int64
	// Participant, if not empty, keeps the transactions with a participant
	// of this name.
	Participant string
}

// admits reports whether a transaction with this txid and these
// participants passes f's age and participant conditions.
func (f *ListFilter) admits(txid string, parts []*verdictv1.ParticipantRef) bool {
	if f.CreatedBeforeMs != 0 && createdMs(txid) >= f.CreatedBeforeMs {
		return false
	}
	return f.Participant == "" ||
		slices.ContainsFunc(parts, func(p *verdictv1.ParticipantRef) bool { return p.GetName() == f.Participant })
}

// ListMatching is List with the conditions of f.
func (s *State) ListMatching(f ListFilter, afterTxid string, limit int) (txs []*verdictv1.Transaction, next string) {
	var want verdictv1.Outcome // OUTCOME_UNSPECIFIED: any outcome
	switch f.State {
	case verdictv1.TxState_TX_STATE_UNSPECIFIED:
	case verdictv1.TxState_TX_STATE_COMMITTED:
		want = verdictv1.Outcome_OUTCOME_COMMITTED
	case verdictv1.TxState_TX_STATE_ABORTED:
		want = verdictv1.Outcome_OUTCOME_ABORTED
	default:
		return nil, ""
	}
	src := s.txs
	if !f.IncludeDone {
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
		if txid <= afterTxid || (want != verdictv1.Outcome_OUTCOME_UNSPECIFIED && e.outcome != want) || !f.admits(txid, e.participants) {
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
		txs[i].StagedCount = uint32(len(s.messages[txid]))
	}
	return txs, next
}

// Len returns the number of transactions in the table, done or not.
func (s *State) Len() int { return len(s.txs) }

// Snapshot serialises the whole table as a StateSnapshot, marshaled
// deterministically: replicas with equal tables produce equal bytes. The
// undone transactions come first, sorted by txid, then the done ones in the
// order they became done, which Restore keeps for later Prunes.
func (s *State) Snapshot() ([]byte, error) {
	ids := make([]string, 0, len(s.undone))
	for txid := range s.undone {
		ids = append(ids, txid)
	}
	slices.Sort(ids)
	ids = append(ids, s.doneOrder[s.doneHead:]...)
	snap := &logv1.StateSnapshot{
		Transactions:       make([]*verdictv1.Transaction, len(ids)),
		PrunedBeforeUnixMs: s.prunedBefore,
	}
	for i, txid := range ids {
		// Marshal only reads: no need to copy the participants or the
		// messages.
		snap.Transactions[i] = s.txs[txid].transaction(txid, false)
		snap.Transactions[i].Messages = s.messages[txid]
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("verdict: marshal state snapshot: %w", err)
	}
	return data, nil
}

// Restore replaces the whole state with the one serialised in data, as
// produced by [State.Snapshot]. An empty data means an empty state. The done
// transactions keep their order in data as the order they became done.
//
// Restore validates everything before it changes anything: on error (data
// that does not unmarshal, a transaction without txid, a txid listed twice, a
// state other than COMMITTED / ABORTED), it returns an error wrapping
// [ErrBadStateSnapshot] and leaves the previous state untouched.
//
// The leader-only fields of a Transaction (acked, last_error, stuck, ...)
// are not part of the state machine and are dropped.
func (s *State) Restore(data []byte) error {
	var snap logv1.StateSnapshot
	if err := proto.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("%w: %w", ErrBadStateSnapshot, err)
	}
	next := NewState()
	next.prunedBefore = snap.GetPrunedBeforeUnixMs()
	for i, tx := range snap.GetTransactions() {
		txid := tx.GetTxid()
		if txid == "" {
			return fmt.Errorf("%w: transaction %d has no txid", ErrBadStateSnapshot, i)
		}
		if _, dup := next.txs[txid]; dup {
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
			participants: next.intern(tx.GetParticipants()),
			reason:       tx.GetReason(),
			decidedMs:    tx.GetDecidedUnixMs(),
			deadlineMs:   tx.GetDeadlineUnixMs(),
			doneMs:       tx.GetDoneUnixMs(),
			outcome:      outcome,
			done:         tx.GetDone(),
			heuristics:   tx.GetHeuristics(), // unmarshaled afresh: the table owns them
		}
		next.txs[txid] = e
		if e.done {
			next.doneOrder = append(next.doneOrder, txid)
			next.doneStampMs = max(next.doneStampMs, e.doneMs)
		} else {
			next.undone[txid] = e
			if msgs := tx.GetMessages(); len(msgs) > 0 && outcome == verdictv1.Outcome_OUTCOME_COMMITTED {
				next.messages[txid] = msgs // data is unmarshaled afresh: the table owns it
			}
		}
	}
	*s = *next
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
	parts, hs := e.participants, e.heuristics
	if copyParticipants {
		parts, hs = cloneAll(parts), cloneAll(hs)
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
		Heuristics:     hs,
	}
}

// cloneAll returns deep copies of ms (nil for none).
func cloneAll[M proto.Message](ms []M) []M {
	if len(ms) == 0 {
		return nil
	}
	out := make([]M, len(ms))
	for i, m := range ms {
		out[i] = proto.CloneOf(m)
	}
	return out
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
