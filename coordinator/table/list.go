package table

import (
	"slices"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// List returns, sorted by txid, at most limit transactions (no bound when
// limit <= 0) whose txid sorts after afterTxid ("" starts at the beginning),
// in the given state (TX_STATE_UNSPECIFIED means any; ACTIVE and PREPARING
// match nothing, since Table holds only decided transactions), leaving out
// those marked done unless includeDone. The transactions are copies the
// caller owns.
//
// next is the txid to pass as afterTxid for the following page, or "" when
// this page is the last one.
//
// The cost is one pass over the table (only the undone part when
// !includeDone) plus O(limit) memory: the page is kept in a bounded heap
// rather than by sorting every match.
func (s *Table) List(state verdictv1.TxState, includeDone bool, afterTxid string, limit int) (txs []*verdictv1.Transaction, next string) {
	return s.ListMatching(ListFilter{State: state, IncludeDone: includeDone}, afterTxid, limit)
}

// ListFilter selects transactions for [Table.ListMatching] (and the
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

// Admits reports whether a transaction with this txid and these
// participants passes f's age and participant conditions.
func (f *ListFilter) Admits(txid string, parts []*verdictv1.ParticipantRef) bool {
	if f.CreatedBeforeMs != 0 && createdMs(txid) >= f.CreatedBeforeMs {
		return false
	}
	return f.Participant == "" ||
		slices.ContainsFunc(parts, func(p *verdictv1.ParticipantRef) bool { return p.GetName() == f.Participant })
}

// ListMatching is List with the conditions of f.
func (s *Table) ListMatching(f ListFilter, afterTxid string, limit int) (txs []*verdictv1.Transaction, next string) {
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
		if txid <= afterTxid || (want != verdictv1.Outcome_OUTCOME_UNSPECIFIED && e.outcome != want) || !f.Admits(txid, e.participants) {
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
