package coordinator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

// The fault tests put a coordinator at the points that are hard to time from
// outside the process: a leader that crashes with the COMMIT applied but not
// answered, one that crashes after answering but before phase 2, a
// participant whose acknowledgements are lost, and a network that
// duplicates and reorders raft messages. Each checks the invariants of
// DESIGN.md: the same outcome at every participant, a COMMITTED answer
// backed by commits everywhere, nothing left prepared, a retried Commit that
// answers the recorded outcome, DONE recorded, and every node's state alike.

// TestFaultCrashAfterCommitApplied crashes the leader once the COMMIT record
// is applied (so a quorum holds it) but before the initiator is answered.
// The initiator hears no outcome from it; a retry at the new leader must
// answer COMMITTED (the SDK's Commit retries on its own and must return
// nil), the new leader must run phase 2, and the crashed node, restarted
// from its data dir, must agree.
func TestFaultCrashAfterCommitApplied(t *testing.T) {
	t.Run("direct", func(t *testing.T) { crashAfterCommitApplied(t, false) })
	t.Run("sdk", func(t *testing.T) { crashAfterCommitApplied(t, true) })
}

func crashAfterCommitApplied(t *testing.T, viaSDK bool) {
	crash := newCrashPoint()
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.knobs = &engine.TestingKnobs{AfterCommitApplied: func(ctx context.Context, id string) bool {
			if !crash.hit(id) {
				return true
			}
			<-ctx.Done() // the node is stopped here
			return false
		}}
	})
	lead := c.leader()
	p1, p2, cl := c.withFaultParticipants(nil)
	tx := beginStaged(t, cl, p1, p2)
	id := tx.ID()

	crash.arm(id)
	answer := make(chan error, 1)
	if viaSDK {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			answer <- tx.Commit(ctx)
		}()
	} else {
		go func() {
			r := <-commitAsync(coordClient(t, lead.Addr()), id)
			if r.err == nil {
				r.err = fmt.Errorf("the crashed leader answered %v; the crash point is before the answer", r.resp)
			} else if status.Code(r.err) == codes.Unavailable {
				r.err = nil // no outcome: what a crash leaves the caller with
			}
			answer <- r.err
		}()
	}
	crash.wait(t)
	if tx, ok := lead.coord.Applied(id); !ok || tx.GetState() != verdictv1.TxState_TX_STATE_COMMITTED {
		t.Fatalf("at the crash point the leader's state holds %v, want COMMITTED", tx)
	}
	lid := lead.Node().ID()
	stopWithin(t, c, lid)
	select {
	case err := <-answer:
		if err != nil {
			t.Fatalf("initiator's Commit across the crash: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the initiator's Commit did not return")
	}

	if o := commitAt(t, c, id).GetOutcome(); o != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("retried Commit at the new leader = %v, want COMMITTED: the COMMIT record reached a quorum", o)
	}
	waitState(t, id, participant.TxCommitted, p1, p2)
	waitDecided(t, c, id, verdictv1.TxState_TX_STATE_COMMITTED)

	c.start(lid, nil)
	waitDecided(t, c, id, verdictv1.TxState_TX_STATE_COMMITTED)
	if o := commitAt(t, c, id).GetOutcome(); o != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("Commit after the restart = %v, want COMMITTED", o)
	}
	settled(t, p1, p2)
}

// TestFaultCrashWithCommitUnreplicated crashes the leader when its COMMIT
// record is durable in its own log only: no follower got it. The initiator
// hears no outcome, and it truly is unknown until a new leader answers. That
// leader never saw the COMMIT, so the retried Commit must answer ABORTED
// (presumed abort), the participants, asking through their recovery loops,
// must abort, and the crashed node, restarted, must drop its COMMIT.
func TestFaultCrashWithCommitUnreplicated(t *testing.T) {
	c := newCluster(t, 3)
	lead := c.leader()
	eps := c.endpoints()
	p1 := startFaultParticipant(t, "p1", eps, nil, 50*time.Millisecond)
	p2 := startFaultParticipant(t, "p2", eps, nil, 50*time.Millisecond)
	id := beginStaged(t, dial(t, eps...), p1, p2).ID()

	// The leader writes an entry to its own log before it sends it: the
	// first append it sends with entries carries the COMMIT, already
	// durable here. None of them leaves the leader.
	appended := make(chan struct{})
	var once sync.Once
	lid := lead.Node().ID()
	lead.Node().SetFilter(func(m *raftpb.Message) bool {
		if m.GetFrom() != lid || m.GetType() != raftpb.MsgApp || len(m.GetEntries()) == 0 {
			return true
		}
		once.Do(func() { close(appended) })
		return false
	})
	answer := commitAsync(coordClient(t, lead.Addr()), id)
	select {
	case <-appended:
	case <-time.After(10 * time.Second):
		t.Fatal("the COMMIT was not appended")
	}
	stopWithin(t, c, lid)
	if r := <-answer; r.err == nil {
		t.Fatalf("the crashed leader answered %v for a COMMIT no follower holds", r.resp)
	}

	if o := commitAt(t, c, id).GetOutcome(); o != verdictv1.Outcome_OUTCOME_ABORTED {
		t.Fatalf("retried Commit at the new leader = %v, want ABORTED: no quorum holds the COMMIT", o)
	}
	waitState(t, id, participant.TxAborted, p1, p2)
	c.start(lid, nil)
	waitAgreed(t, c, id, verdictv1.TxState_TX_STATE_ABORTED)
	testwait.For(t, 10*time.Second, "the restarted node caught up", func() bool {
		for _, s := range c.running() {
			if s.Node().ID() == lid {
				return s.Node().Status().Applied >= c.leader().Node().Status().Commit
			}
		}
		return false
	})
	for _, s := range c.running() {
		if tx, ok := s.coord.Applied(id); ok && tx.GetState() == verdictv1.TxState_TX_STATE_COMMITTED {
			t.Fatalf("node %d applied the COMMIT that never reached a quorum", s.Node().ID())
		}
	}
	settled(t, p1, p2)
}

// TestFaultCrashAfterAnswerBeforePhase2 crashes the leader after it told the
// initiator COMMITTED and before it sent a single Commit to a participant.
// The decision is durable: the new leader must deliver it, record DONE, and
// answer a retried Commit with COMMITTED.
func TestFaultCrashAfterAnswerBeforePhase2(t *testing.T) {
	crash := newCrashPoint()
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.knobs = &engine.TestingKnobs{BeforePhase2: func(id string) bool { return !crash.hit(id) }}
	})
	lead := c.leader()
	p1, p2, cl := c.withFaultParticipants(nil)
	id := beginStaged(t, cl, p1, p2).ID()

	crash.arm(id)
	r := <-commitAsync(coordClient(t, lead.Addr()), id)
	if r.err != nil || r.resp.GetOutcome() != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("Commit = %v, %v; want COMMITTED", r.resp, r.err)
	}
	crash.wait(t)
	// The participants' recovery loops ran at their start, before anything
	// was prepared, and do not run again: only a leader's phase 2 can move
	// them from here.
	for _, p := range []*testParticipant{p1, p2} {
		if s := p.res.State(id); s != participant.TxPrepared {
			t.Fatalf("%s is %v when the leader crashes, want prepared (phase 2 not begun)", p.name, s)
		}
	}
	lid := lead.Node().ID()
	stopWithin(t, c, lid)

	waitState(t, id, participant.TxCommitted, p1, p2)
	waitDecided(t, c, id, verdictv1.TxState_TX_STATE_COMMITTED)
	if o := commitAt(t, c, id).GetOutcome(); o != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("retried Commit at the new leader = %v, want COMMITTED", o)
	}

	c.start(lid, nil)
	waitDecided(t, c, id, verdictv1.TxState_TX_STATE_COMMITTED)
	settled(t, p1, p2)
}

// TestFaultLostPhase2Ack loses a participant's acknowledgement of Commit
// twice: the participant applies the commit, the leader hears an error. The
// leader must deliver again until acknowledged, the participant must commit
// exactly once, and DONE must be recorded only after the acknowledgement.
func TestFaultLostPhase2Ack(t *testing.T) {
	const lost = 2
	c := newCluster(t, 3)
	c.leader()
	var target atomic.Pointer[string]
	var calls, dropped atomic.Int32
	lossy := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if info.FullMethod != verdictv1.Participant_Commit_FullMethodName {
			return resp, err
		}
		if id := target.Load(); id != nil && slices.Contains(req.(*verdictv1.DecisionRequest).GetTxids(), *id) {
			calls.Add(1)
			if err == nil && dropped.Add(1) <= lost {
				return nil, status.Error(codes.Unavailable, "acknowledgement lost")
			}
		}
		return resp, err
	}
	p1, p2, cl := c.withFaultParticipants(map[string]grpc.UnaryServerInterceptor{"p2": lossy})
	id := beginStaged(t, cl, p1, p2).ID()
	target.Store(&id)

	r := <-commitAsync(coordClient(t, c.leader().Addr()), id)
	if r.err != nil || r.resp.GetOutcome() != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("Commit = %v, %v; want COMMITTED", r.resp, r.err)
	}
	waitState(t, id, participant.TxCommitted, p1, p2)
	waitDecided(t, c, id, verdictv1.TxState_TX_STATE_COMMITTED)
	if n := calls.Load(); n < lost+1 {
		t.Errorf("DONE recorded after %d Commit calls to p2, of which %d lost their acknowledgement", n, lost)
	}
	commits := 0
	for _, e := range p2.res.History() {
		if e.TxID == id && e.Kind == participant.EventCommit {
			commits++
		}
	}
	if commits != 1 {
		t.Errorf("p2 applied the commit %d times, want once (Commit is idempotent)", commits)
	}
	if o := commitAt(t, c, id).GetOutcome(); o != verdictv1.Outcome_OUTCOME_COMMITTED {
		t.Fatalf("retried Commit = %v, want COMMITTED", o)
	}
	settled(t, p1, p2)
}

// TestFaultDuplicatedReorderedRaftMessages runs concurrent transactions while
// every node receives raft messages duplicated, held back and delivered out
// of order. Raft must absorb it: every answer agrees with the log, every
// participant applies the logged outcome, and all three nodes end with the
// same state for every transaction.
func TestFaultDuplicatedReorderedRaftMessages(t *testing.T) {
	c := newCluster(t, 3)
	c.leader()
	seed := uint64(time.Now().UnixNano())
	t.Logf("router seed %d", seed)
	var routers []*messRouter
	for _, s := range c.running() {
		r := newMessRouter(seed + s.Node().ID())
		routers = append(routers, r)
		s.Node().SetRouter(r.route)
	}
	p1, p2, cl := c.withFaultParticipants(nil)
	// p2 votes no to every fifth transaction, so that aborts are decided
	// and delivered through the same network.
	var votes atomic.Int32
	p2.res.SetVote(func(context.Context, string) (participant.Vote, error) {
		if votes.Add(1)%5 == 0 {
			return participant.VoteNo, nil
		}
		return participant.VoteYes, nil
	})

	const (
		workers = 6
		maxTxs  = 90
		maxLoad = 3 * time.Second
	)
	var (
		mu      sync.Mutex
		told    = map[string]error{} // txid → the initiator's Commit result
		started atomic.Int32
		wg      sync.WaitGroup
	)
	stopAt := time.Now().Add(maxLoad)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for started.Add(1) <= maxTxs && time.Now().Before(stopAt) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				id, err := runTx(ctx, cl, p1, p2)
				cancel()
				if id != "" {
					mu.Lock()
					told[id] = err
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	loaded := time.Since(stopAt.Add(-maxLoad))

	var dups, holds int
	for _, r := range routers {
		d, h := r.counts()
		dups, holds = dups+d, holds+h
	}
	if dups == 0 || holds == 0 {
		t.Fatalf("the router duplicated %d and held back %d messages: the fault was not injected", dups, holds)
	}
	committed, aborted, unknown := 0, 0, 0
	for id, err := range told {
		var want verdictv1.TxState
		switch {
		case err == nil:
			committed++
			want = verdictv1.TxState_TX_STATE_COMMITTED
		case errors.Is(err, client.ErrAborted):
			aborted++
			want = verdictv1.TxState_TX_STATE_ABORTED
		default:
			// No outcome was heard: the recorded one is the truth, and a
			// retried Commit must answer it.
			unknown++
			if o := commitAt(t, c, id).GetOutcome(); o == verdictv1.Outcome_OUTCOME_COMMITTED {
				want = verdictv1.TxState_TX_STATE_COMMITTED
			} else {
				want = verdictv1.TxState_TX_STATE_ABORTED
			}
		}
		if want == verdictv1.TxState_TX_STATE_COMMITTED {
			waitState(t, id, participant.TxCommitted, p1, p2)
			waitDecided(t, c, id, want)
			continue
		}
		// An abort may leave no record (presumed abort): then no node may
		// hold one other than ABORTED.
		for _, p := range []*testParticipant{p1, p2} {
			testwait.For(t, 10*time.Second, fmt.Sprintf("%s resolved at %s", id, p.name), func() bool {
				s := p.res.State(id)
				return s == participant.TxAborted || s == participant.TxNone
			})
		}
		waitAgreed(t, c, id, verdictv1.TxState_TX_STATE_ABORTED)
	}
	t.Logf("%d committed, %d aborted, %d learned by retry in %v; %d messages duplicated, %d held back",
		committed, aborted, unknown, loaded.Round(time.Millisecond), dups, holds)
	if committed == 0 || aborted == 0 {
		t.Fatal("under duplication and reordering, a commit and an abort were expected")
	}
	// The nodes converge: the same decisions, every one done.
	var diff string
	defer func() {
		if t.Failed() && diff != "" {
			t.Log(diff)
		}
	}()
	testwait.For(t, 10*time.Second, "the same decisions, all done, at every node", func() bool {
		nodes := c.running()
		first := decisionsOf(nodes[0])
		for _, s := range nodes {
			d := decisionsOf(s)
			if !maps.Equal(d, first) {
				diff = fmt.Sprintf("node %d holds %d decisions, node %d %d", nodes[0].Node().ID(), len(first), s.Node().ID(), len(d))
				return false
			}
			if s.coord.UndoneCount() > 0 {
				diff = fmt.Sprintf("node %d has undone decisions", s.Node().ID())
				return false
			}
		}
		return true
	})
	settled(t, p1, p2)
}

// decisionsOf is a node's applied decisions: txid → state and DONE.
func decisionsOf(s *Server) map[string]string {
	txs := s.coord.AppliedAll()
	out := make(map[string]string, len(txs))
	for _, tx := range txs {
		out[tx.GetTxid()] = fmt.Sprintf("%v done=%v", tx.GetState(), tx.GetDone())
	}
	return out
}

// crashPoint fires a hook once, for one transaction.
type crashPoint struct {
	txid    atomic.Pointer[string]
	reached chan struct{}
}

func newCrashPoint() *crashPoint { return &crashPoint{reached: make(chan struct{})} }

func (p *crashPoint) arm(id string) { p.txid.Store(&id) }

// hit reports whether the hook called for id is the armed one (once only).
func (p *crashPoint) hit(id string) bool {
	armed := p.txid.Load()
	if armed == nil || *armed != id || !p.txid.CompareAndSwap(armed, nil) {
		return false
	}
	close(p.reached)
	return true
}

func (p *crashPoint) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the crash point was not reached")
	}
}

// messRouter duplicates, holds back and reorders the raft messages a node
// receives.
type messRouter struct {
	mu          sync.Mutex
	rng         *rand.Rand
	held        []*raftpb.Message
	dups, holds int
}

func newMessRouter(seed uint64) *messRouter {
	return &messRouter{rng: rand.New(rand.NewPCG(seed, seed>>1))}
}

// route is a txlog.Router: a fifth of the messages are duplicated, a fifth
// held back (up to 16 at a time), and each held message is released with
// even odds on every later message, in random order with it.
func (r *messRouter) route(m *raftpb.Message) []*raftpb.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*raftpb.Message
	switch x := r.rng.IntN(10); {
	case x < 2 && len(r.held) < 16:
		r.held = append(r.held, m)
		r.holds++
	case x < 4:
		out = append(out, m, proto.Clone(m).(*raftpb.Message))
		r.dups++
	default:
		out = append(out, m)
	}
	kept := r.held[:0]
	for _, h := range r.held {
		if h != m && r.rng.IntN(2) == 0 {
			out = append(out, h)
		} else {
			kept = append(kept, h)
		}
	}
	clear(r.held[len(kept):])
	r.held = kept
	r.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (r *messRouter) counts() (dups, holds int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dups, r.holds
}

// running lists the nodes that are up.
func (c *testCluster) running() []*Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Server
	for _, s := range c.nodes {
		out = append(out, s)
	}
	return out
}

// withFaultParticipants is withParticipants with interceptors in front of
// the named participants' servers. Their own recovery loops stay idle, so
// that only the coordinator resolves what they hold prepared.
func (c *testCluster) withFaultParticipants(intercept map[string]grpc.UnaryServerInterceptor) (p1, p2 *testParticipant, cl *client.Client) {
	c.t.Helper()
	eps := c.endpoints()
	return startFaultParticipant(c.t, "p1", eps, intercept["p1"], time.Hour),
		startFaultParticipant(c.t, "p2", eps, intercept["p2"], time.Hour),
		dial(c.t, eps...)
}

// startFaultParticipant is startParticipant with an optional interceptor
// ahead of the SDK's and the given period of its recovery loop.
func startFaultParticipant(t testing.TB, name string, coordinators []string, intercept grpc.UnaryServerInterceptor, recovery time.Duration) *testParticipant {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testParticipant{name: name, addr: l.Addr().String(), res: participant.NewMemResource()}
	p.srv, err = participant.NewServer(participant.Config{
		Name:             name,
		Address:          p.addr,
		Resource:         p.res,
		Coordinators:     coordinators,
		RecoveryInterval: recovery,
		Logger:           testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ics := []grpc.UnaryServerInterceptor{p.srv.UnaryServerInterceptor()}
	if intercept != nil {
		ics = append([]grpc.UnaryServerInterceptor{intercept}, ics...)
	}
	p.g = grpc.NewServer(grpc.ChainUnaryInterceptor(ics...))
	p.srv.Register(p.g)
	worksvc.Register(p.g, p.res)
	p.srv.Start()
	go p.g.Serve(l)
	p.conn, err = grpc.NewClient(p.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.conn.Close()
		p.g.Stop()
		p.srv.Stop()
	})
	return p
}

// beginStaged begins a transaction and stages a write at each participant.
func beginStaged(t *testing.T, cl *client.Client, parts ...*testParticipant) *client.Tx {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		if err := stage(tx.Context(ctx), p, tx.ID()); err != nil {
			t.Fatalf("stage at %s: %v", p.name, err)
		}
	}
	return tx
}

type commitResult struct {
	resp *verdictv1.CommitResponse
	err  error
}

// commitAsync calls Commit once, bounded, and delivers its result.
func commitAsync(raw verdictv1.CoordinatorClient, id string) <-chan commitResult {
	ch := make(chan commitResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		resp, err := raw.Commit(ctx, &verdictv1.CommitRequest{Txid: id})
		ch <- commitResult{resp, err}
	}()
	return ch
}

// commitAt retries Commit of id at the current leader until it answers an
// outcome (bounded).
func commitAt(t *testing.T, c *testCluster, id string) *verdictv1.CommitResponse {
	t.Helper()
	raw := coordClient(t, c.leader().Addr())
	var (
		resp    *verdictv1.CommitResponse
		lastErr error
	)
	deadline := time.Now().Add(15 * time.Second)
	for resp == nil {
		if time.Now().After(deadline) {
			t.Fatalf("Commit(%s) gave no outcome in time: %v", id, lastErr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, lastErr = raw.Commit(ctx, &verdictv1.CommitRequest{Txid: id})
		cancel()
		if lastErr != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return resp
}

// stopWithin stops node id; a Stop that does not return in time is a
// deadlock (with a hook blocked on the engine's context, for instance).
func stopWithin(t *testing.T, c *testCluster, id uint64) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.stop(id)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("Stop of node %d did not return", id)
	}
}

// waitDecided waits until every running node has applied id's decision as
// want and its DONE.
func waitDecided(t *testing.T, c *testCluster, id string, want verdictv1.TxState) {
	t.Helper()
	testwait.For(t, 10*time.Second, fmt.Sprintf("%s %v and done at every node", id, want), func() bool {
		for _, s := range c.running() {
			tx, ok := s.coord.Applied(id)
			if !ok || tx.GetState() != want || !tx.GetDone() {
				return false
			}
		}
		return true
	})
}

// waitAgreed waits until every running node holds the same state for id:
// want and done, or (for an abort that was never logged) nothing.
func waitAgreed(t *testing.T, c *testCluster, id string, want verdictv1.TxState) {
	t.Helper()
	testwait.For(t, 10*time.Second, fmt.Sprintf("the nodes agree on %s", id), func() bool {
		logged := 0
		nodes := c.running()
		for _, s := range nodes {
			tx, ok := s.coord.Applied(id)
			switch {
			case !ok:
			case tx.GetState() != want:
				t.Fatalf("node %d holds %s as %v, want %v", s.Node().ID(), id, tx.GetState(), want)
			case tx.GetDone():
				logged++
			default:
				return false
			}
		}
		return logged == 0 || logged == len(nodes)
	})
}

// settled checks that the participants recorded no violation and hold
// nothing prepared.
func settled(t *testing.T, parts ...*testParticipant) {
	t.Helper()
	noViolations(t, parts...)
	for _, p := range parts {
		if prepared, _, _ := p.res.Counts(); prepared != 0 {
			ids, _ := p.res.Prepared(context.Background())
			t.Errorf("%s still holds %d transactions prepared: %v", p.name, prepared, ids)
		}
	}
}
