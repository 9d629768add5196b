package table

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Snapshot serialises the whole table as a StateSnapshot, marshaled
// deterministically: replicas with equal tables produce equal bytes. The
// undone transactions come first, sorted by txid, then the done ones in the
// order they became done, which Restore keeps for later Prunes.
func (s *Table) Snapshot() ([]byte, error) {
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
// produced by [Table.Snapshot]. An empty data means an empty state. The done
// transactions keep their order in data as the order they became done.
//
// Restore validates everything before it changes anything: on error (data
// that does not unmarshal, a transaction without txid, a txid listed twice, a
// state other than COMMITTED / ABORTED), it returns an error wrapping
// [ErrBadSnapshot] and leaves the previous state untouched.
//
// The leader-only fields of a Transaction (acked, last_error, stuck, ...)
// are not part of the state machine and are dropped.
func (s *Table) Restore(data []byte) error {
	var snap logv1.StateSnapshot
	if err := proto.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	next := New()
	next.prunedBefore = snap.GetPrunedBeforeUnixMs()
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
