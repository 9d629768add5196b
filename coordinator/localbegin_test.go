package coordinator

import (
	"context"
	"testing"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// With WithLocalBegin, a client begins transactions itself once it knows
// the leader's term: they commit at every participant without a Begin
// call. After a leader change, a transaction stamped with the old term is
// aborted at its first enlistment (its work call fails, nothing commits),
// and the next one, begun with a call, commits under the new leader.
func TestLocalBeginAcrossLeaderChange(t *testing.T) {
	c := newCluster(t, 3)
	eps := c.endpoints()
	p1, p2 := startParticipant(t, "p1", eps), startParticipant(t, "p2", eps)
	cl, err := client.Dial(eps, client.WithLocalBegin())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	ctx := context.Background()

	var ids []string
	for range 3 { // the first asks, the others begin locally
		id, err := runTx(ctx, cl, p1, p2)
		if err != nil {
			t.Fatalf("tx %s: %v", id, err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		waitState(t, id, participant.TxCommitted, p1, p2)
		if tx, err := c.leader().coord.Describe(id); err != nil || len(tx.GetTimeline()) == 0 {
			t.Fatalf("%s at the leader: %v %v", id, tx, err)
		}
	}
	// The second and third were registered by their first enlistment.
	for _, id := range ids[1:] {
		if !beganLocally(t, c, id) {
			t.Errorf("%s was begun with a call", id)
		}
	}

	to := c.follower()
	if _, err := adminClient(t, to.Addr()).TransferLeadership(callCtx(t), &verdictv1.TransferLeadershipRequest{Id: to.Node().ID()}); err != nil {
		t.Fatal(err)
	}
	stale, err := runTx(ctx, cl, p1, p2)
	if err == nil {
		t.Fatalf("tx %s stamped with the old term committed", stale)
	}
	if st := p1.res.State(stale); st == participant.TxCommitted {
		t.Fatalf("p1 committed %s, stamped with the old term", stale)
	}
	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatalf("tx after the leader change: %v", err)
	}
	waitState(t, id, participant.TxCommitted, p1, p2)
	noViolations(t, p1, p2)
}

// beganLocally reports whether the leader's timeline of id says that a
// stamp registered it.
func beganLocally(t *testing.T, c *testCluster, id string) bool {
	t.Helper()
	tx, err := c.leader().coord.Describe(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tx.GetTimeline() {
		if e.GetKind() == "begin" {
			return len(e.GetDetail()) > 0 && e.GetDetail()[:8] == "begun by"
		}
	}
	return false
}
