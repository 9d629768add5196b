package table

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Snapshot serialises the whole table as a StateSnapshot, marshaled
// deterministically: replicas with equal tables produce equal bytes. The
// undone transactions come first, sorted by txid, then the done ones in the
// order they became done, which Restore keeps for later Prunes.
func (s *Table) Snapshot() ([]byte, error) {
	snap, body, err := s.snapshot()
	if err != nil || len(body) == 0 {
		return body, err // the empty state is no bytes, and needs no hash
	}
	sum := sha256.Sum256(body)
	if len(snap.GetDiverged()) > 0 {
		// Rare: marshal again, so that the hash (field 3) comes before
		// the marks (field 4), as a deterministic encoding orders them.
		snap.StateSha256 = sum[:]
		return proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	}
	// state_sha256 is then the last field: appended to the deterministic
	// encoding of the rest, it gives the deterministic encoding of the
	// whole, without marshaling the table twice.
	data := protowire.AppendTag(body, stateHashField, protowire.BytesType)
	return protowire.AppendBytes(data, sum[:]), nil
}

// stateHashField is StateSnapshot.state_sha256's field number.
const stateHashField = 3

// snapshot builds the table's StateSnapshot without its hash, and its
// deterministic encoding.
func (s *Table) snapshot() (*logv1.StateSnapshot, []byte, error) {
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
	for _, node := range slices.Sorted(maps.Keys(s.diverged)) {
		snap.Diverged = append(snap.Diverged, &logv1.Divergence{Node: node, SinceIndex: s.diverged[node]})
	}
	for i, txid := range ids {
		// Marshal only reads: no need to copy the participants or the
		// messages.
		snap.Transactions[i] = s.txs[txid].transaction(txid, false)
		snap.Transactions[i].Messages = s.messages[txid]
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return nil, nil, fmt.Errorf("verdict: marshal state snapshot: %w", err)
	}
	return snap, body, nil
}

// Hash is the SHA-256 of the table's state: of its snapshot's
// deterministic encoding (without the hash the snapshot carries). It
// depends on the applied records alone: replicas that applied the same
// records hold equal tables, Snapshot lists them in an order of their own
// (undone by txid, done in the order they became done), never a map's,
// and Restore rebuilds exactly what Snapshot wrote; the table reads no
// clock. Its cost is a snapshot's: it is taken at checkpoints only.
func (s *Table) Hash() ([32]byte, error) {
	_, body, err := s.snapshot()
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(body), nil
}

// checkHash verifies the hash snap carries, if any, against its content.
func checkHash(snap *logv1.StateSnapshot) error {
	want := snap.GetStateSha256()
	if len(want) == 0 {
		return nil // a snapshot of an earlier version
	}
	body := proto.Clone(snap).(*logv1.StateSnapshot)
	body.StateSha256 = nil
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		return err
	}
	if got := sha256.Sum256(data); !bytes.Equal(got[:], want) {
		return fmt.Errorf("%w: its content does not match the state hash it carries (%x, content %x)", ErrBadSnapshot, want, got)
	}
	return nil
}

// Restore replaces the whole state with the one serialised in data, as
// produced by [Table.Snapshot]. An empty data means an empty state. The done
// transactions keep their order in data as the order they became done.
//
// Restore validates everything before it changes anything: on error (data
// that does not unmarshal, content that does not match the state hash it
// carries, a transaction without txid, a txid listed twice, a state other
// than COMMITTED / ABORTED), it returns an error wrapping
// [ErrBadSnapshot] and leaves the previous state untouched.
//
// The leader-only fields of a Transaction (acked, last_error, stuck, ...)
// are not part of the state machine and are dropped.
func (s *Table) Restore(data []byte) error {
	var snap logv1.StateSnapshot
	if err := proto.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	if err := checkHash(&snap); err != nil {
		return err
	}
	next := New()
	next.prunedBefore = snap.GetPrunedBeforeUnixMs()
	for _, d := range snap.GetDiverged() {
		next.applyDivergence(d)
	}
	for i, tx := range snap.GetTransactions() {
		txid := tx.GetTxid()
		if txid == "" {
			return fmt.Errorf("%w: transaction %d has no txid", ErrBadSnapshot, i)
		}
		if _, dup := next.txs[txid]; dup {
			return fmt.Errorf("%w: txid %q listed twice", ErrBadSnapshot, txid)
		}
		var outcome verdictv1.Outcome
		switch tx.GetState() {
		case verdictv1.TxState_TX_STATE_COMMITTED:
			outcome = verdictv1.Outcome_OUTCOME_COMMITTED
		case verdictv1.TxState_TX_STATE_ABORTED:
			outcome = verdictv1.Outcome_OUTCOME_ABORTED
		default:
			return fmt.Errorf("%w: txid %q has state %v", ErrBadSnapshot, txid, tx.GetState())
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
