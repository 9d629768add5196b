package engine

import (
	"strings"
	"testing"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"google.golang.org/protobuf/proto"
)

func TestListPage(t *testing.T) {
	tx := func(i, reason int) *verdictv1.Transaction {
		return &verdictv1.Transaction{Txid: "0190a1b2-c3d4-7e5f-8a9b-00000000000" + string(rune('0'+i)), Reason: strings.Repeat("r", reason)}
	}
	txs := func(n, reason int) []*verdictv1.Transaction {
		var out []*verdictv1.Transaction
		for i := 0; i < n; i++ {
			out = append(out, tx(i, reason))
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		txs       []*verdictv1.Transaction
		limit     int
		maxBytes  int
		more      bool
		wantN     int
		wantsNext bool
	}{
		{"none", nil, 10, 1 << 10, false, 0, false},
		{"all fit", txs(3, 10), 10, 1 << 10, false, 3, false},
		{"all fit, more in the log", txs(3, 10), 3, 1 << 10, true, 3, true},
		{"cut by limit", txs(5, 10), 2, 1 << 10, false, 2, true},
		{"cut by bytes", txs(5, 300), 10, 1 << 10, false, 2, true},
		{"one larger than the bound", txs(2, 2000), 10, 1 << 10, false, 1, true},
	} {
		resp := listPage(tc.txs, tc.limit, tc.maxBytes, tc.more)
		if len(resp.GetTransactions()) != tc.wantN {
			t.Errorf("%s: %d transactions, want %d", tc.name, len(resp.GetTransactions()), tc.wantN)
			continue
		}
		if next := resp.GetNextAfterTxid(); (next != "") != tc.wantsNext || (next != "" && next != tc.txs[tc.wantN-1].GetTxid()) {
			t.Errorf("%s: next %q", tc.name, next)
		}
		if size := proto.Size(resp); tc.wantN > 1 && size > tc.maxBytes {
			t.Errorf("%s: %d bytes, more than %d", tc.name, size, tc.maxBytes)
		}
	}
}
