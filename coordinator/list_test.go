package coordinator

import (
	"context"
	"testing"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// TestListTransactionsPages pages through decided transactions two at a
// time and sees each exactly once.
func TestListTransactionsPages(t *testing.T) {
	c := newCluster(t, 1)
	c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		id, err := runTx(ctx, cl, p1, p2)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	raw := coordClient(t, c.leader().Addr())
	seen := map[string]bool{}
	after := ""
	for page := 0; page < 10; page++ {
		resp, err := raw.ListTransactions(ctx, &verdictv1.ListTransactionsRequest{IncludeDone: true, Limit: 2, AfterTxid: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range resp.GetTransactions() {
			if seen[tx.GetTxid()] {
				t.Fatalf("%s listed twice", tx.GetTxid())
			}
			seen[tx.GetTxid()] = true
		}
		if after = resp.GetNextAfterTxid(); after == "" {
			break
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("paged through %d transactions, want %d", len(seen), len(want))
	}
}
