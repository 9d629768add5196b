package coordinator

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/verdict-tx/verdict/internal/testwait"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// noVoter is a participant that votes NO to every Prepare and acknowledges
// every decision: its transactions abort, and their phase 2 completes.
type noVoter struct {
	verdictv1.UnimplementedParticipantServer
	prepares, decisions atomic.Int64
}

func (p *noVoter) Prepare(_ context.Context, req *verdictv1.PrepareRequest) (*verdictv1.PrepareResponse, error) {
	p.prepares.Add(1)
	votes := make([]*verdictv1.PrepareVote, len(req.GetTxids()))
	for i := range votes {
		votes[i] = &verdictv1.PrepareVote{Vote: verdictv1.Vote_VOTE_NO, Reason: "test participant votes no"}
	}
	return &verdictv1.PrepareResponse{Votes: votes}, nil
}

func (p *noVoter) Commit(context.Context, *verdictv1.DecisionRequest) (*verdictv1.DecisionResponse, error) {
	p.decisions.Add(1)
	return &verdictv1.DecisionResponse{}, nil
}

func (p *noVoter) Abort(context.Context, *verdictv1.DecisionRequest) (*verdictv1.DecisionResponse, error) {
	p.decisions.Add(1)
	return &verdictv1.DecisionResponse{}, nil
}

// countingListener counts the connections it accepted.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// serveNoVoter serves one noVoter on n listeners of 127.0.0.1: n distinct
// participant addresses.
func serveNoVoter(t *testing.T, n int) (*noVoter, []*countingListener) {
	t.Helper()
	p := &noVoter{}
	g := grpc.NewServer()
	verdictv1.RegisterParticipantServer(g, p)
	lis := make([]*countingListener, n)
	var wg sync.WaitGroup
	for i := range lis {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[i] = &countingListener{Listener: l}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = g.Serve(lis[i])
		}()
	}
	t.Cleanup(func() {
		g.Stop()
		wg.Wait()
	})
	return p, lis
}

// beginTx begins a transaction through raw and returns its id.
func beginTx(t *testing.T, ctx context.Context, raw verdictv1.CoordinatorClient) string {
	t.Helper()
	resp, err := raw.Begin(ctx, &verdictv1.BeginRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetTxid()
}

// longCtx bounds the calls of a test that waits for things to go idle.
func longCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// settledGoroutines polls (bounded) until the goroutine count is at most
// want and reports the last count seen.
func settledGoroutines(limit time.Duration, want int) int {
	deadline := time.Now().Add(limit)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every participant address costs a connection, a prepare batcher and a
// phase-2 sender; they are released once idle, and no more than
// MaxParticipantAddresses distinct addresses are admitted at once.
func TestParticipantAddressesReleasedWhenIdle(t *testing.T) {
	const n = 40
	c := newTunedCluster(t, 1, func(cfg *Config) {
		cfg.ParticipantIdleTimeout = 200 * time.Millisecond
		cfg.MaxParticipantAddresses = n
	})
	raw := coordClient(t, c.leader().Addr())
	ctx := longCtx(t)
	p, lis := serveNoVoter(t, n+1)
	begin := func() string { return beginTx(t, ctx, raw) }
	// A first transaction warms up what every transaction shares.
	if _, err := raw.Abort(ctx, &verdictv1.AbortRequest{Txid: begin()}); err != nil {
		t.Fatal(err)
	}
	baseline := settledGoroutines(2*time.Second, 0)

	// n transactions, each enlisting its own participant address, stay open
	// together: the table is full.
	ids := make([]string, n)
	for i := range ids {
		ids[i] = begin()
		ref := &verdictv1.ParticipantRef{Name: fmt.Sprintf("p%d", i), Address: lis[i].Addr().String()}
		if err := enlistOne(ctx, raw, ids[i], ref); err != nil {
			t.Fatalf("enlist %s: %v", ref.GetAddress(), err)
		}
	}
	extra := begin()
	err := enlistOne(ctx, raw, extra, &verdictv1.ParticipantRef{Name: "extra", Address: lis[n].Addr().String()})
	wantCode(t, fmt.Sprintf("enlisting address %d of at most %d", n+1, n), err, codes.ResourceExhausted)
	_, err = raw.Commit(ctx, &verdictv1.CommitRequest{Txid: extra, Participants: []*verdictv1.ParticipantRef{{Name: "extra", Address: lis[n].Addr().String()}}})
	wantCode(t, fmt.Sprintf("a commit naming address %d of at most %d", n+1, n), err, codes.ResourceExhausted)

	for _, id := range ids {
		resp, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: id})
		if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_ABORTED {
			t.Fatalf("commit %s = %v, %v; want ABORTED (the participant votes no)", id, resp, err)
		}
	}
	testwait.For(t, 10*time.Second, "every abort acknowledged", func() bool { return p.decisions.Load() >= n })
	peak := runtime.NumGoroutine()
	t.Logf("goroutines: %d before, %d after %d participant addresses", baseline, peak, n)

	// Once idle, every connection, batcher and sender is gone.
	const slack = 15
	if got := settledGoroutines(15*time.Second, baseline+slack); got > baseline+slack {
		t.Fatalf("goroutines stay at %d after the participants went idle, want at most %d (baseline %d + %d)", got, baseline+slack, baseline, slack)
	}

	// The released addresses make room for a new one.
	extra = begin()
	if err := enlistOne(ctx, raw, extra, &verdictv1.ParticipantRef{Name: "extra", Address: lis[n].Addr().String()}); err != nil {
		t.Fatalf("enlist once the others went idle: %v", err)
	}
	if _, err := raw.Abort(ctx, &verdictv1.AbortRequest{Txid: extra}); err != nil {
		t.Fatal(err)
	}
}

// Participant addresses are validated and canonical: a malformed one is
// refused with InvalidArgument at Enlist and Commit, and two spellings of
// one address are one participant with one connection.
func TestParticipantAddressesValidatedAndCanonical(t *testing.T) {
	c := newCluster(t, 1)
	raw := coordClient(t, c.leader().Addr())
	ctx := longCtx(t)
	begin := func() string { return beginTx(t, ctx, raw) }

	bad := []string{
		"127.0.0.1:notaport", "127.0.0.1:99999999", "127.0.0.1:0", "127.0.0.1:-1", "127.0.0.1:+80",
		"127.0.0.1:74\x0000", "host\x00:1", "ho st:1", "host\n:1", "127.0.0.1", ":7400", "[::1", "[::1]:",
		"host:", "-host:1", "host..example:1", "127.000.0.1:1", "1.2.3:1", "dns:///h:1", "h/x:1",
		strings.Repeat("a", 64) + ":1", strings.Repeat("a.", 200) + "b:1",
	}
	for _, addr := range bad {
		id := begin()
		err := enlistOne(ctx, raw, id, &verdictv1.ParticipantRef{Name: "p", Address: addr})
		wantCode(t, fmt.Sprintf("enlist at %q", addr), err, codes.InvalidArgument)
		_, err = raw.Commit(ctx, &verdictv1.CommitRequest{Txid: id, Participants: []*verdictv1.ParticipantRef{{Name: "p", Address: addr}}})
		wantCode(t, fmt.Sprintf("commit naming %q", addr), err, codes.InvalidArgument)
		if _, err := raw.Abort(ctx, &verdictv1.AbortRequest{Txid: id}); err != nil {
			t.Fatal(err)
		}
	}

	// One participant listening on port P, named as 127.0.0.1:0P and
	// 127.0.0.1:P (and its host in capitals) by different transactions and
	// twice by one, is one participant and one connection.
	p, lis := serveNoVoter(t, 1)
	_, port, _ := net.SplitHostPort(lis[0].Addr().String())
	spellings := []string{"127.0.0.1:0" + port, "127.0.0.1:" + port, "127.0.0.1:00" + port}
	for _, addr := range spellings {
		id := begin()
		for _, a := range []string{addr, spellings[1]} {
			if err := enlistOne(ctx, raw, id, &verdictv1.ParticipantRef{Name: "same", Address: a}); err != nil {
				t.Fatalf("enlist at %s: %v", a, err)
			}
		}
		resp, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: id, Participants: []*verdictv1.ParticipantRef{{Name: "same", Address: "127.0.0.1:000" + port}}})
		if err != nil || resp.GetOutcome() != verdictv1.Outcome_OUTCOME_ABORTED {
			t.Fatalf("commit = %v, %v; want ABORTED", resp, err)
		}
		var tx *verdictv1.Transaction
		testwait.For(t, 10*time.Second, "the abort record of "+id, func() bool {
			tx, err = c.leader().coord.Describe(id)
			return err == nil && len(tx.GetParticipants()) > 0
		})
		if got := tx.GetParticipants(); len(got) != 1 || got[0].GetAddress() != spellings[1] {
			t.Errorf("transaction enlisted at %s has participants %v, want one at %s", addr, got, spellings[1])
		}
	}
	testwait.For(t, 10*time.Second, "every abort acknowledged", func() bool { return p.decisions.Load() >= int64(len(spellings)) })
	if got := lis[0].accepted.Load(); got != 1 {
		t.Errorf("the participant accepted %d connections for %d spellings of its address, want 1", got, len(spellings))
	}
}
