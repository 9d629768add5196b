package coordinator

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

// Reconnection bounds: an outage longer than the reconnect backoff's cap
// (500 ms), and how soon after a server listens again it must be served.
const (
	testOutage   = 3 * time.Second
	backPromptly = 2 * time.Second
)

// stopServing stops p's gRPC server: its address refuses connections.
func (p *testParticipant) stopServing() { p.g.Stop() }

// serveAgain serves p on its old address again, with a new gRPC server.
func (p *testParticipant) serveAgain(t *testing.T) {
	t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 100; i++ { // the port was ours a moment ago
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("relisten on %s: %v", p.addr, err)
	}
	g := grpc.NewServer(grpc.UnaryInterceptor(p.srv.UnaryServerInterceptor()))
	p.srv.Register(g)
	worksvc.Register(g, p.res)
	go g.Serve(l)
	p.g = g // stopped when the test ends
}

// A participant that listens again after an outage longer than the
// reconnect backoff's cap is prepared and committed within 2 s: the
// coordinator's connection to it does not sit in a long reconnect backoff,
// and phase 2 does not wait out the backoff its failed deliveries earned.
func TestParticipantBackFromOutageServedPromptly(t *testing.T) {
	c := newCluster(t, 1)
	raw := coordClient(t, c.leader().Addr())
	p1, p2, cl := c.withParticipants()
	ctx := longCtx(t)
	if _, err := runTx(ctx, cl, p1, p2); err != nil {
		t.Fatalf("a transaction before the outage: %v", err)
	}

	// During the outage, transactions that name p2 abort at prepare (and
	// their aborts are retried with backoff).
	p2.stopServing()
	down := time.Now()
	aborted := 0
	for time.Since(down) < testOutage {
		id := beginTx(t, ctx, raw)
		ref := &verdictv1.ParticipantRef{Name: p2.name, Address: p2.addr}
		if err := enlistOne(ctx, raw, id, ref); err != nil {
			t.Fatal(err)
		}
		resp, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: id})
		if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_ABORTED {
			t.Fatalf("commit during the outage = %v, %v; want ABORTED", resp, err)
		}
		aborted++
		time.Sleep(200 * time.Millisecond) // the pace of the outage's traffic
	}
	t.Logf("%d transactions aborted during a %v outage", aborted, testOutage)

	p2.serveAgain(t)
	back := time.Now()
	var id string
	var lastErr error
	for attempts := 0; time.Since(back) < backPromptly && attempts < 1000; attempts++ {
		if id, lastErr = runTx(ctx, cl, p1, p2); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("no transaction through the participant committed within %v of it listening again: %v", backPromptly, lastErr)
	}
	testwait.For(t, backPromptly-time.Since(back), "the participant back from its outage to commit "+id, func() bool {
		return p2.res.State(id) == participant.TxCommitted
	})
	t.Logf("committed at the participant %v after it listened again", time.Since(back))
	noViolations(t, p1, p2)
}

// An initiator's connection to a coordinator node back from an outage
// longer than the reconnect backoff's cap reaches it within 2 s of it
// being ready.
func TestClientBackFromCoordinatorOutagePromptly(t *testing.T) {
	c := newCluster(t, 1)
	cl := dial(t, c.endpoints()...)
	ctx := longCtx(t)
	if _, err := cl.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	c.stop(1)
	down := time.Now()
	for time.Since(down) < testOutage {
		callCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		if _, err := cl.Begin(callCtx); err == nil {
			t.Fatal("Begin succeeded with the only node down")
		}
		cancel()
		time.Sleep(100 * time.Millisecond)
	}
	c.start(1, nil)
	c.leader()
	ready := time.Now()
	var err error
	for attempts := 0; time.Since(ready) < backPromptly && attempts < 1000; attempts++ {
		callCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err = cl.Begin(callCtx)
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Begin failed for %v after the node was ready again: %v", backPromptly, err)
	}
	t.Logf("Begin served %v after the node was ready again", time.Since(ready))
}
