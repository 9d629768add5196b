package coordinator

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// failingCommits is a Resource whose Commit fails while fail is set, as a
// participant whose database is down would.
type failingCommits struct {
	*participant.MemResource
	fail atomic.Bool
}

func (f *failingCommits) Commit(ctx context.Context, txid string) error {
	if f.fail.Load() {
		return errors.New("database unavailable")
	}
	return f.MemResource.Commit(ctx, txid)
}

// withFailingP2 is withFlakyParticipant with p2's commits failing from the
// start.
func (c *testCluster) withFailingP2() (p1, p2 *testParticipant, flaky *failingCommits, cl *client.Client) {
	c.t.Helper()
	p1, p2, flaky, cl = c.withFlakyParticipant()
	flaky.fail.Store(true)
	return p1, p2, flaky, cl
}

func adminClient(t testing.TB, addr string) verdictv1.AdminClient {
	t.Helper()
	return verdictv1.NewAdminClient(testConn(t, addr))
}

// withFlakyParticipant starts participants p1 and p2, whose commits fail
// while flaky.fail is set, and a client of c.
func (c *testCluster) withFlakyParticipant() (p1, p2 *testParticipant, flaky *failingCommits, cl *client.Client) {
	c.t.Helper()
	eps := c.endpoints()
	p1 = startParticipant(c.t, "p1", eps)
	flaky = &failingCommits{MemResource: participant.NewMemResource()}
	p2 = startParticipantOver(c.t, "p2", eps, flaky.MemResource, flaky)
	return p1, p2, flaky, dial(c.t, eps...)
}

// A decision whose phase 2 keeps failing is marked stuck with its last
// error; an operator's retry skips the remaining backoff; once delivered,
// the transaction is done and no longer stuck.
func TestStuckTransactionAndRetry(t *testing.T) {
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.StuckAfter = 200 * time.Millisecond
		cfg.MaxRetryBackoff = time.Hour
		// Backoffs of 2s, 4s, ...: after the second failure, only a
		// retry can deliver within the time this test waits.
		cfg.knobs = &engine.TestingKnobs{FirstRetry: 2 * time.Second}
	})
	c.leader()
	p1, p2, flaky, cl := c.withFailingP2()
	ctx := context.Background()
	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	waitState(t, id, participant.TxCommitted, p1)

	// Ask a follower: listing and showing are forwarded to the leader,
	// which alone knows phase 2.
	coord := coordClient(t, c.follower().Addr())
	var tx *verdictv1.Transaction
	testwait.For(t, 10*time.Second, "the transaction listed as stuck after two failed attempts", func() bool {
		resp, err := coord.ListTransactions(ctx, &verdictv1.ListTransactionsRequest{Stuck: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetTransactions()) != 1 {
			return false
		}
		tx = resp.GetTransactions()[0]
		return tx.GetFailedAttempts() >= 2
	})
	if tx.GetTxid() != id || !tx.GetStuck() || tx.GetDone() || tx.GetFailingSinceUnixMs() == 0 {
		t.Fatalf("stuck listing = %v", tx)
	}
	if !strings.Contains(tx.GetLastError(), "p2") || !strings.Contains(tx.GetLastError(), "database unavailable") {
		t.Errorf("last error = %q, want p2's commit error", tx.GetLastError())
	}
	if len(tx.GetAcked()) != 1 || tx.GetAcked()[0] != "p1" {
		t.Errorf("acked = %v, want [p1]", tx.GetAcked())
	}
	got, err := coord.GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: id})
	if err != nil || !got.GetTransaction().GetStuck() {
		t.Fatalf("GetTransaction = %v, %v; want stuck", got, err)
	}

	flaky.fail.Store(false)
	retried := time.Now()
	resp, err := adminClient(t, c.follower().Addr()).RetryTransaction(ctx, &verdictv1.RetryTransactionRequest{Txid: id})
	if err != nil || resp.GetTransaction().GetTxid() != id {
		t.Fatalf("RetryTransaction = %v, %v", resp, err)
	}
	waitState(t, id, participant.TxCommitted, p2)
	if d := time.Since(retried); d > time.Second {
		t.Errorf("delivered %v after the retry; the retry did not skip the backoff", d)
	}
	testwait.For(t, 10*time.Second, "DONE", func() bool {
		got, err := coord.GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: id})
		return err == nil && got.GetTransaction().GetDone() && !got.GetTransaction().GetStuck()
	})
	list, err := coord.ListTransactions(ctx, &verdictv1.ListTransactionsRequest{Stuck: true})
	if err != nil || len(list.GetTransactions()) != 0 {
		t.Errorf("stuck list after delivery = %v, %v; want empty", list, err)
	}
	noViolations(t, p1, p2)
}

func TestRetryRefusals(t *testing.T) {
	c := newCluster(t, 1)
	lead := c.leader()
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	adm := adminClient(t, lead.Addr())

	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "DONE", func() bool {
		tx, ok := lead.coord.Applied(id)
		return ok && tx.GetDone()
	})
	active, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unknown := "01936b2a-0000-7000-8000-00000000beef"
	for _, tt := range []struct {
		txid string
		code codes.Code
		msg  string
	}{
		{"not-a-txid", codes.InvalidArgument, "malformed"},
		{unknown, codes.NotFound, "not found"},
		{id, codes.FailedPrecondition, "phase 2 is complete"},
		{active.ID(), codes.FailedPrecondition, "not decided"},
	} {
		_, err := adm.RetryTransaction(ctx, &verdictv1.RetryTransactionRequest{Txid: tt.txid})
		if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("RetryTransaction(%s) = %v; want %v containing %q", tt.txid, err, tt.code, tt.msg)
		}
	}
}
