package coordinator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// timelineOf returns the kinds of tx's timeline events, each with its
// participant ("kind" or "kind participant").
func timelineOf(tx *verdictv1.Transaction) []string {
	var out []string
	for _, e := range tx.GetTimeline() {
		out = append(out, strings.TrimSpace(e.GetKind()+" "+e.GetParticipant()))
	}
	return out
}

// hasInOrder reports whether want appear in got in this order.
func hasInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// The timeline of a transaction whose participant's Commit fails shows
// begin, enlistments, votes, the decision, the failed attempts with their
// error, and the acknowledgements, as seen through a follower.
func TestTimelineShowsFailedAttempts(t *testing.T) {
	c := newTunedCluster(t, 3, func(cfg *Config) { cfg.MaxRetryBackoff = 20 * time.Millisecond })
	c.leader()
	p1, p2, flaky, cl := c.withFailingP2()
	ctx := context.Background()
	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	coord := coordClient(t, c.follower().Addr())
	var tx *verdictv1.Transaction
	testwait.For(t, 10*time.Second, "three failed attempts at p2 in the timeline", func() bool {
		resp, err := coord.GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: id})
		if err != nil {
			t.Fatal(err)
		}
		tx = resp.GetTransaction()
		n := 0
		for _, e := range tx.GetTimeline() {
			if e.GetKind() == "attempt" && e.GetParticipant() == "p2" {
				n++
				if !strings.Contains(e.GetDetail(), "database unavailable") {
					t.Fatalf("attempt detail %q lacks the participant's error", e.GetDetail())
				}
			}
		}
		return n >= 3
	})
	got := timelineOf(tx)
	for _, want := range [][]string{
		{"begin", "enlist p1", "prepare", "decision", "ack p1"},
		{"enlist p2", "prepare", "vote p2", "decision", "attempt p2", "attempt p2", "attempt p2"},
		{"vote p1", "decision"},
	} {
		if !hasInOrder(got, want) {
			t.Errorf("timeline %v lacks %v in order", got, want)
		}
	}
	for _, e := range tx.GetTimeline() {
		if e.GetUnixMs() == 0 {
			t.Errorf("event without time: %v", e)
		}
		if e.GetKind() == "decision" && e.GetDetail() != "committed" {
			t.Errorf("decision detail %q, want committed", e.GetDetail())
		}
	}

	flaky.fail.Store(false)
	testwait.For(t, 10*time.Second, "p2's ack in the timeline", func() bool {
		resp, err := coord.GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: id})
		return err == nil && hasInOrder(timelineOf(resp.GetTransaction()), []string{"attempt p2", "ack p2"})
	})
	waitState(t, id, participant.TxCommitted, p2)
	noViolations(t, p1, p2)
}
