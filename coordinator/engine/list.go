package engine

import (
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// listPage is the ListTransactions answer for txs, sorted by id: the first
// of them, at most limit and at most maxBytes encoded (but at least one),
// and where the next page starts if it cut txs short or more says that
// further transactions match.
func listPage(txs []*verdictv1.Transaction, limit, maxBytes int, more bool) *verdictv1.ListTransactionsResponse {
	resp := &verdictv1.ListTransactionsResponse{}
	size, n := 0, 0
	for ; n < len(txs) && n < limit; n++ {
		s := fieldBytes(proto.Size(txs[n]))
		// Room for next_after_txid, which names the last transaction.
		next := fieldBytes(len(txs[n].GetTxid()))
		if n > 0 && size+s+next > maxBytes {
			break
		}
		size += s
	}
	resp.Transactions = txs[:n]
	if n > 0 && (n < len(txs) || more) {
		resp.NextAfterTxid = txs[n-1].GetTxid()
	}
	return resp
}

// fieldBytes is the encoded size of a length-delimited field of a
// ListTransactionsResponse (fields 1 and 2: a one-byte tag) whose content
// takes n bytes.
func fieldBytes(n int) int { return 1 + protowire.SizeBytes(n) }

func sortByID(txs []*verdictv1.Transaction) {
	sort.Slice(txs, func(i, j int) bool { return txs[i].GetTxid() < txs[j].GetTxid() })
}
