package coordinator

import (
	"github.com/google/uuid"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Fixed UUIDv7 txids, in sorting order.
const (
	tx1 = "01936b2a-0000-7000-8000-000000000001"
	tx2 = "01936b2a-0000-7000-8000-000000000002"
)

const committed = verdictv1.Outcome_OUTCOME_COMMITTED

// txidAt returns a UUIDv7 txid created at ms (Unix milliseconds), told apart
// from others of the same ms by seq.
func txidAt(ms int64, seq byte) string {
	var u uuid.UUID
	for i := range 6 {
		u[i] = byte(ms >> (8 * (5 - i)))
	}
	u[6] = 0x70
	u[8] = 0x80
	u[15] = seq
	return u.String()
}

// txids returns the txids of txs, in order.
func txids(txs []*verdictv1.Transaction) []string {
	var ids []string
	for _, tx := range txs {
		ids = append(ids, tx.GetTxid())
	}
	return ids
}
