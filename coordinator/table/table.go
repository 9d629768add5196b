package table

import (
	"errors"
	"maps"
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

// ErrBadSnapshot is returned (wrapped) by [Table.Restore] when the data
// is not a valid serialised state.
var ErrBadSnapshot = errors.New("verdict: bad state snapshot")

// Table is the transaction table built from the COMMIT / ABORT / DONE records
// of the replicated log: the coordinator's deterministic state machine.
//
// Every replica that applies the same batches in the same order holds the same
// table and produces the same Results and the same Snapshot bytes: Table reads
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
//     [Table.Expired]): only done ones are ever pruned, so an undone decision
//     stays until its phase 2 completes.
//   - A COMMIT's staged messages are kept while it is undone (the leader
//     publishes them in phase 2, a new leader again) and dropped at its
//     DONE. An ABORT keeps none: its messages are never published.
//   - A HeuristicResolution record (an operator's tx forget) marks one
//     participant of a decided, undone transaction as resolved by hand, so
//     that phase 2 stops waiting for it; it never changes an outcome, and
//     is ignored for anything else (see [Table.applyHeuristic]).
//   - A malformed record is ignored with a Result of OUTCOME_UNSPECIFIED and
//     reason [ReasonInvalidRecord]: the log must never crash a node.
//   - A COMMIT that reached the log in an entry of another term than the one
//     it was decided in is ignored with reason [ReasonStaleCommit] (see
//     [Table.ApplyEntry]): its leader lost office in between, and a newer
//     leader may have presumed the transaction aborted. ABORT is always safe.
//
// Only decided transactions are held: ACTIVE and PREPARING ones live in the
// leader's memory, outside the log.
//
// Table is not safe for concurrent use: the caller (the Raft apply loop and
// the readers it serves) holds a lock around every method call.
type Table struct {
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
	// (see [Table.LogTime]). They answer nothing and are not snapshotted.
	doneStampMs, pruneStampMs int64
	// messages holds the staged messages of the undone COMMITs that have
	// any (a separate map, so that transactions without messages cost the
	// table nothing). They are dropped at DONE: they are published by then.
	messages map[string][]*verdictv1.StagedMessage
	// diverged are the members marked diverged (Divergence records): node
	// id → the checkpoint at which they differed.
	diverged map[uint64]uint64
	// refs interns participant refs: the transactions of a service mostly
	// name the same few participants, so each table entry holds pointers to
	// one shared copy instead of its own.
	refs map[refKey]*verdictv1.ParticipantRef
}

// refKey identifies an interned participant ref.
type refKey struct{ name, address string }

// txEntry is what Table keeps for one decided transaction: a compact struct
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

// New returns an empty table.
func New() *Table {
	return &Table{
		txs:      make(map[string]*txEntry),
		undone:   make(map[string]*txEntry),
		messages: make(map[string][]*verdictv1.StagedMessage),
		refs:     make(map[refKey]*verdictv1.ParticipantRef),
	}
}

// ApplyBatch applies every record of b in order and returns one Result per
// record, at the same index. A nil batch yields no Results. Table keeps no
// reference into b (staged messages are copied).
func (s *Table) ApplyBatch(b *logv1.LogBatch) []Result { return s.ApplyEntry(0, b) }

// ApplyEntry is ApplyBatch for a batch read from a log entry appended in
// term: a COMMIT decided in another term is ignored. Term 0 checks nothing.
func (s *Table) ApplyEntry(term uint64, b *logv1.LogBatch) []Result {
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
func (s *Table) apply(term uint64, rec *logv1.LogRecord) Result {
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
	case *logv1.LogRecord_Checkpoint:
		return Result{} // changes nothing; the caller hashes the state here
	case *logv1.LogRecord_Divergence:
		s.applyDivergence(k.Divergence)
		return Result{}
	default: // nil record, empty oneof, or a kind this version does not know
		return Result{Reason: ReasonInvalidRecord}
	}
}

// applyDivergence marks a member diverged (keeping the first checkpoint
// it differed at), or clears its mark.
func (s *Table) applyDivergence(d *logv1.Divergence) {
	switch node := d.GetNode(); {
	case node == 0:
	case d.GetCleared():
		delete(s.diverged, node)
	default:
		if _, ok := s.diverged[node]; !ok {
			if s.diverged == nil {
				s.diverged = map[uint64]uint64{}
			}
			s.diverged[node] = d.GetSinceIndex()
		}
	}
}

// Diverged returns the members marked diverged: node id → the checkpoint
// at which they differed.
func (s *Table) Diverged() map[uint64]uint64 { return maps.Clone(s.diverged) }

// IsDiverged reports whether node is marked diverged.
func (s *Table) IsDiverged(node uint64) bool {
	_, ok := s.diverged[node]
	return ok
}

// applyDecision records d unless its txid is decided already (rule 1).
func (s *Table) applyDecision(d *logv1.Decision) Result {
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
func (s *Table) applyDone(d *logv1.Done) {
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
func (s *Table) applyPrune(before int64) {
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
func (s *Table) Expired(txid string) bool {
	return s.prunedBefore != 0 && createdMs(txid) < s.prunedBefore
}

// LogTime is the newest time the log vouches for, in Unix milliseconds, for
// a leader whose retention is retention: the newest DONE time applied, or
// the newest Prune's before plus retention (a Prune is proposed for the
// proposer's now minus its retention), whichever is later. After a Restore
// it is the newest retained DONE time or the horizon plus retention, which
// are earlier. 0 for a log that holds no time yet.
func (s *Table) LogTime(retention time.Duration) int64 {
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
func (s *Table) intern(parts []*verdictv1.ParticipantRef) []*verdictv1.ParticipantRef {
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
func (s *Table) Get(txid string) (*verdictv1.Transaction, bool) {
	e, ok := s.txs[txid]
	if !ok {
		return nil, false
	}
	tx := e.transaction(txid, true)
	tx.StagedCount = uint32(len(s.messages[txid]))
	return tx, true
}

// Has reports whether txid is recorded (decided, and not pruned).
func (s *Table) Has(txid string) bool {
	_, ok := s.txs[txid]
	return ok
}

// Messages returns the staged messages of an undone COMMIT, nil for any
// other txid. The slice and the messages are the table's own: the caller
// must only read them.
func (s *Table) Messages(txid string) []*verdictv1.StagedMessage { return s.messages[txid] }

// Undone returns the decided transactions without a DONE record, sorted by
// txid (a UUIDv7 sorts by creation time, so the oldest come first), as copies
// the caller owns.
func (s *Table) Undone() []*verdictv1.Transaction {
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

// Len returns the number of transactions in the table, done or not.
func (s *Table) Len() int { return len(s.txs) }

// UndoneCount returns the number of decided transactions without a DONE
// record.
func (s *Table) UndoneCount() int { return len(s.undone) }

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
