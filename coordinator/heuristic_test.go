package coordinator

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// A participant that is gone for good keeps a committed transaction
// undone until an operator forgets it: the resolution is refused for bad
// input, logged (seen on a follower and after a restart of every node),
// counted, published as an event and shown; the transaction then reaches
// DONE.
func TestForgetTransaction(t *testing.T) {
	n := startNATS(t)
	sub, err := n.nc.SubscribeSync(EventSubjectPrefix + EventHeuristic)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := natsCluster(t, 3, n.url, func(cfg *Config) { cfg.MaxRetryBackoff = 50 * time.Millisecond })
	c.leader()
	p1, p2, _, cl := c.withFailingP2() // p2 is gone for good
	ctx := context.Background()
	adm := adminClient(t, c.follower().Addr())

	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, id, participant.TxCommitted, p1)
	coord := coordClient(t, c.follower().Addr())
	testwait.For(t, 10*time.Second, "p1's ack known to the leader", func() bool {
		got, err := coord.GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: id})
		return err == nil && len(got.GetTransaction().GetAcked()) == 1
	})
	active := beginStaged(t, cl, p1)

	forget := func(txid, part, reason string) (*verdictv1.ForgetTransactionResponse, error) {
		return adm.ForgetTransaction(ctx, &verdictv1.ForgetTransactionRequest{Txid: txid, Participant: part, Reason: reason, Operator: "alice"})
	}
	for _, tt := range []struct {
		txid, part, reason string
		code               codes.Code
		msg                string
	}{
		{"not-a-txid", "p2", "gone", codes.InvalidArgument, "malformed"},
		{"01936b2a-0000-7000-8000-00000000beef", "p2", "gone", codes.NotFound, "not found"},
		{id, "p2", "", codes.InvalidArgument, "needs a reason"},
		{id, "p2", "  ", codes.InvalidArgument, "needs a reason"},
		{id, "bad name!", "gone", codes.InvalidArgument, "participant name"},
		{id, "p9", "gone", codes.NotFound, `no participant "p9"`},
		{id, "p1", "gone", codes.FailedPrecondition, "acknowledged"},
		{active.ID(), "p1", "gone", codes.FailedPrecondition, "not decided"},
	} {
		_, err := forget(tt.txid, tt.part, tt.reason)
		if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ForgetTransaction(%s, %q, %q) = %v; want %v containing %q", tt.txid, tt.part, tt.reason, err, tt.code, tt.msg)
		}
	}

	resp, err := forget(id, "p2", "host of p2 destroyed, data restored by hand")
	if err != nil {
		t.Fatalf("ForgetTransaction: %v", err)
	}
	hs := resp.GetTransaction().GetHeuristics()
	if len(hs) != 1 || hs[0].GetParticipant() != "p2" || !strings.HasPrefix(hs[0].GetOperator(), "alice from 127.0.0.1:") ||
		hs[0].GetReason() != "host of p2 destroyed, data restored by hand" || hs[0].GetUnixMs() == 0 {
		t.Fatalf("heuristics = %v", hs)
	}
	if !hasInOrder(timelineOf(resp.GetTransaction()), []string{"attempt p2", "heuristic p2"}) {
		t.Errorf("timeline %v lacks the heuristic after p2's attempts", timelineOf(resp.GetTransaction()))
	}
	if got := c.leader().HeuristicCount(); got != 1 {
		t.Errorf("leader's HeuristicCount = %d, want 1", got)
	}
	if got := value(t, gather(t, c.leader()), "verdict_heuristic_resolutions_total"); got != 1 {
		t.Errorf("verdict_heuristic_resolutions_total = %v, want 1", got)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("heuristic event: %v", err)
	}
	var ev Event
	if err := json.Unmarshal(m.Data, &ev); err != nil || ev.TxID != id || ev.Kind != EventHeuristic || ev.Outcome != "committed" ||
		!strings.Contains(ev.Reason, "p2") || !strings.Contains(ev.Reason, "alice") {
		t.Errorf("heuristic event = %s (%v)", m.Data, err)
	}

	// The transaction reaches DONE on every node, with its audit.
	for _, s := range c.running() {
		testwait.For(t, 10*time.Second, "DONE with the resolution on every node", func() bool {
			tx, ok := s.coord.Applied(id)
			return ok && tx.GetDone() && len(tx.GetHeuristics()) == 1
		})
	}
	if _, err := forget(id, "p2", "again"); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("second ForgetTransaction = %v; want FailedPrecondition", err)
	}

	// The resolution survives a restart of every node.
	for nodeID := range c.peers {
		c.stop(nodeID)
	}
	for nodeID := range c.peers {
		c.start(nodeID, nil)
	}
	c.leader()
	for _, s := range c.running() {
		testwait.For(t, 10*time.Second, "the resolution on every restarted node", func() bool {
			tx, ok := s.coord.Applied(id)
			return ok && tx.GetDone() && len(tx.GetHeuristics()) == 1 && tx.GetHeuristics()[0].GetReason() == hs[0].GetReason()
		})
	}
}

// committedWithP2Gone starts a one-node cluster with hooks, and commits a
// transaction at p1 and p2, whose commits keep failing; it returns the
// leader, the txid, and an admin client of the leader.
func committedWithP2Gone(t *testing.T, hooks *engine.TestingKnobs) (*Server, string, verdictv1.AdminClient) {
	t.Helper()
	c := newTunedCluster(t, 1, func(cfg *Config) {
		cfg.MaxRetryBackoff = 50 * time.Millisecond
		cfg.knobs = hooks
	})
	leader := c.leader()
	p1, p2, _, cl := c.withFailingP2()
	id, err := runTx(context.Background(), cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, id, participant.TxCommitted, p1)
	return leader, id, adminClient(t, leader.Addr())
}

// A forget whose record is applied only after the operator's call gave up
// still stops phase 2 from waiting for the participant: the leader reacts
// to the applied record, not to the call's answer. Repeating the forget is
// refused, counts nothing, and the transaction reaches DONE.
func TestForgetAppliedAfterCallEnded(t *testing.T) {
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	leader, id, adm := committedWithP2Gone(t, &engine.TestingKnobs{HeuristicApplied: func(string, string) bool {
		once.Do(func() { close(reached) })
		<-release // the apply loop waits until the call has given up
		return true
	}})
	ctx := context.Background()
	forget := func(ctx context.Context) error {
		_, err := adm.ForgetTransaction(ctx, &verdictv1.ForgetTransactionRequest{Txid: id, Participant: "p2", Reason: "gone", Operator: "alice"})
		return err
	}

	fctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := forget(fctx); status.Code(err) != codes.DeadlineExceeded {
		close(release)
		t.Fatalf("ForgetTransaction held past its deadline = %v; want DeadlineExceeded", err)
	}
	select {
	case <-reached:
	default:
		t.Error("the record was not being applied when the call gave up")
	}
	close(release)
	testwait.For(t, 10*time.Second, "DONE after a forget whose call gave up", func() bool {
		tx, ok := leader.coord.Applied(id)
		return ok && tx.GetDone()
	})

	if err := forget(ctx); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("repeated ForgetTransaction = %v; want FailedPrecondition", err)
	}
	if got := leader.HeuristicCount(); got != 1 {
		t.Errorf("HeuristicCount = %d, want 1", got)
	}
}

// A repeated forget makes sure that the leader's phase 2 no longer waits
// for the participant, even if the leader missed the first record's
// application: it is refused, and the transaction reaches DONE.
func TestForgetRepeatedResolves(t *testing.T) {
	leader, id, adm := committedWithP2Gone(t, &engine.TestingKnobs{HeuristicApplied: func(string, string) bool { return false }})
	ctx := context.Background()
	req := &verdictv1.ForgetTransactionRequest{Txid: id, Participant: "p2", Reason: "gone", Operator: "alice"}
	if _, err := adm.ForgetTransaction(ctx, req); err != nil {
		t.Fatalf("ForgetTransaction: %v", err)
	}
	if tx, _ := leader.coord.Applied(id); tx.GetDone() || !leader.coord.Phase2Waits(id, "p2") {
		t.Fatalf("phase 2 not waiting for p2 after a missed reaction: done %v", tx.GetDone())
	}
	if _, err := adm.ForgetTransaction(ctx, req); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "already") {
		t.Errorf("repeated ForgetTransaction = %v; want FailedPrecondition, resolved already", err)
	}
	testwait.For(t, 10*time.Second, "DONE after a repeated forget", func() bool {
		tx, ok := leader.coord.Applied(id)
		return ok && tx.GetDone()
	})
}

// Between the last acknowledgement and the application of DONE (here
// held back by a lost DONE proposal), the leader still knows who
// acknowledged: forget is refused. An operator's retry proposes DONE
// again.
func TestForgetRefusedWhileDonePending(t *testing.T) {
	var lose atomic.Bool
	lose.Store(true)
	lost := make(chan struct{})
	var once sync.Once
	c := newTunedCluster(t, 1, func(cfg *Config) {
		cfg.knobs = &engine.TestingKnobs{ProposeDone: func([]string, []*logv1.OnePhase) bool {
			if !lose.Load() {
				return true
			}
			once.Do(func() { close(lost) })
			return false
		}}
	})
	leader := c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("no DONE proposal")
	}
	adm := adminClient(t, leader.Addr())
	got, err := coordClient(t, leader.Addr()).GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: id})
	if err != nil || got.GetTransaction().GetDone() || len(got.GetTransaction().GetAcked()) != 2 {
		t.Fatalf("GetTransaction with DONE pending = %v (%v); want undone, acked by both", got, err)
	}
	_, err = adm.ForgetTransaction(ctx, &verdictv1.ForgetTransactionRequest{Txid: id, Participant: "p2", Reason: "gone", Operator: "alice"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "DONE record is pending") {
		t.Errorf("ForgetTransaction with DONE pending = %v; want FailedPrecondition, DONE record is pending", err)
	}

	lose.Store(false)
	if _, err := adm.RetryTransaction(ctx, &verdictv1.RetryTransactionRequest{Txid: id}); err != nil {
		t.Fatalf("RetryTransaction: %v", err)
	}
	testwait.For(t, 10*time.Second, "DONE proposed again and applied", func() bool {
		return !leader.coord.DonePending(id)
	})
	if tx, _ := leader.coord.Applied(id); !tx.GetDone() || len(tx.GetHeuristics()) != 0 {
		t.Errorf("after the retry: done %v, heuristics %v", tx.GetDone(), tx.GetHeuristics())
	}
}
