package coordinator

import (
	"context"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testwait"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func callCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// addNode adds node id through admin (any node: followers forward), then
// starts it in join mode with every address known, as an operator does.
func (c *testCluster) addNode(admin verdictv1.AdminClient, id uint64) *Server {
	c.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	addr := l.Addr().String()
	resp, err := admin.AddMember(callCtx(c.t), &verdictv1.AddMemberRequest{Id: id, Address: addr})
	if err != nil {
		l.Close()
		c.t.Fatalf("add member %d: %v", id, err)
	}
	if !hasMember(resp.GetMembers(), id) {
		c.t.Fatalf("add member %d answered members %v", id, resp.GetMembers())
	}
	// The running nodes hold the old map: give the cluster a new one.
	c.peers = maps.Clone(c.peers)
	c.peers[id] = addr
	c.dirs[id] = filepath.Join(c.t.TempDir(), fmt.Sprint(id))
	tune := c.tune
	c.tune = func(cfg *Config) {
		if tune != nil {
			tune(cfg)
		}
		cfg.Join = cfg.ID == id
	}
	c.start(id, l)
	c.tune = tune
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

func hasMember(ms []*verdictv1.Member, id uint64) bool {
	for _, m := range ms {
		if m.GetId() == id {
			return true
		}
	}
	return false
}

// waitVoter waits until every running node sees id as a voter.
func (c *testCluster) waitVoter(id uint64) {
	c.t.Helper()
	testwait.For(c.t, 15*time.Second, fmt.Sprintf("node %d to be a voter everywhere", id), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.nodes {
			if !isVoter(s, id) {
				return false
			}
		}
		return true
	})
}

// isVoter reports whether s sees id as a voter.
func isVoter(s *Server, id uint64) bool {
	for _, m := range s.Node().Status().Members {
		if m.ID == id && !m.Learner {
			return true
		}
	}
	return false
}

func TestClusterGrowsToFourNodes(t *testing.T) {
	c := newCluster(t, 3)
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := runTx(ctx, cl, p1, p2); err != nil {
			t.Fatalf("tx %d before growing: %v", i, err)
		}
	}
	newNode := c.addNode(adminClient(t, c.follower().Addr()), 4)
	c.waitVoter(4)

	// Transactions through the new node: it forwards them to the leader.
	cl4 := dial(t, newNode.Addr())
	var ids []string
	for i := 0; i < 5; i++ {
		id, err := runTx(ctx, cl4, p1, p2)
		if err != nil {
			t.Fatalf("tx %d through node 4: %v", i, err)
		}
		ids = append(ids, id)
	}
	testwait.For(t, 10*time.Second, "node 4 to apply the decisions", func() bool {
		_, ok := newNode.coord.Applied(ids[len(ids)-1])
		return ok
	})
	for _, id := range ids {
		if tx, ok := newNode.coord.Applied(id); !ok || engine.OutcomeOf(tx.GetState()) != verdictv1.Outcome_OUTCOME_COMMITTED {
			t.Errorf("node 4: %s = %v, %v; want committed", id, tx, ok)
		}
	}

	// The leader reports how far each member has replicated.
	lead := c.leader()
	st, err := adminClient(t, lead.Addr()).Status(callCtx(t), &verdictv1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.GetMembers() {
		if m.GetMatchIndex() == 0 || m.GetLearner() {
			t.Errorf("leader's status: member %v, want a voter with a match index", m)
		}
	}
	if len(st.GetMembers()) != 4 {
		t.Errorf("leader's status lists %d members, want 4", len(st.GetMembers()))
	}

	// With one old node down, committing needs node 4's vote.
	down := lead.Node().ID()%3 + 1 // an old node, not the leader
	c.stop(down)
	if c.leader() == nil {
		t.Fatal("no leader")
	}
	for i := 0; i < 3; i++ {
		if _, err := runTx(ctx, cl4, p1, p2); err != nil {
			t.Fatalf("tx %d with a node down: %v", i, err)
		}
	}
	noViolations(t, p1, p2)
}

func TestClusterRemoveMember(t *testing.T) {
	c := newCluster(t, 3)
	p1, p2, cl := c.withParticipants()
	ctx := context.Background()
	lead := c.leader()
	victim := c.follower()
	vid := victim.Node().ID()
	resp, err := adminClient(t, victim.Addr()).RemoveMember(callCtx(t), &verdictv1.RemoveMemberRequest{Id: vid})
	if err != nil {
		t.Fatal(err)
	}
	if hasMember(resp.GetMembers(), vid) || len(resp.GetMembers()) != 2 {
		t.Fatalf("members after removing %d: %v", vid, resp.GetMembers())
	}
	c.stop(vid)
	for i := 0; i < 3; i++ {
		if _, err := runTx(ctx, cl, p1, p2); err != nil {
			t.Fatalf("tx %d after the removal: %v", i, err)
		}
	}
	admin := adminClient(t, lead.Addr())
	_, err = admin.RemoveMember(callCtx(t), &verdictv1.RemoveMemberRequest{Id: vid})
	wantCode(t, "remove a removed node", err, codes.FailedPrecondition)
	_, err = admin.AddMember(callCtx(t), &verdictv1.AddMemberRequest{Id: vid, Address: "127.0.0.1:1"})
	wantCode(t, "re-add a removed id", err, codes.FailedPrecondition)

	// The leader can remove itself: the last node takes over alone.
	_, err = admin.RemoveMember(callCtx(t), &verdictv1.RemoveMemberRequest{Id: lead.Node().ID()})
	if err != nil {
		t.Fatal(err)
	}
	c.stop(lead.Node().ID())
	last := c.leader()
	if got := last.Node().Status().Members; len(got) != 1 || got[0].ID != last.Node().ID() {
		t.Fatalf("members of the last node: %+v", got)
	}
	if _, err := runTx(ctx, dial(t, last.Addr()), p1, p2); err != nil {
		t.Fatalf("tx on the last node: %v", err)
	}
	noViolations(t, p1, p2)
}

func TestClusterTransferLeadership(t *testing.T) {
	c := newCluster(t, 3)
	p1, p2, cl := c.withParticipants()
	old := c.leader()
	to := c.follower()
	resp, err := adminClient(t, to.Addr()).TransferLeadership(callCtx(t), &verdictv1.TransferLeadershipRequest{Id: to.Node().ID()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetLeader() != to.Node().ID() {
		t.Fatalf("transfer answered leader %d, want %d", resp.GetLeader(), to.Node().ID())
	}
	if got := c.leader(); got != to {
		t.Fatalf("leader is node %d, want %d", got.Node().ID(), to.Node().ID())
	}
	if _, ok := old.Node().LeaderTerm(); ok {
		t.Fatal("the old leader still leads")
	}
	if _, err := runTx(context.Background(), cl, p1, p2); err != nil {
		t.Fatalf("tx after the transfer: %v", err)
	}
	noViolations(t, p1, p2)
}

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

func TestMembershipBadInput(t *testing.T) {
	c := newCluster(t, 1)
	admin := adminClient(t, c.leader().Addr())
	ctx := callCtx(t)
	add := func(id uint64, addr string) error {
		_, err := admin.AddMember(ctx, &verdictv1.AddMemberRequest{Id: id, Address: addr})
		return err
	}
	remove := func(id uint64) error {
		_, err := admin.RemoveMember(ctx, &verdictv1.RemoveMemberRequest{Id: id})
		return err
	}
	transfer := func(id uint64) error {
		_, err := admin.TransferLeadership(ctx, &verdictv1.TransferLeadershipRequest{Id: id})
		return err
	}
	// Node 7 is added at an address nothing serves: it stays a learner.
	if err := add(7, "127.0.0.1:9"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"add id 0", add(0, "127.0.0.1:1"), codes.InvalidArgument},
		{"add no address", add(8, ""), codes.InvalidArgument},
		{"add address without port", add(8, "nowhere"), codes.InvalidArgument},
		{"add address port 0", add(8, "127.0.0.1:0"), codes.InvalidArgument},
		{"add existing voter", add(1, "127.0.0.1:2"), codes.FailedPrecondition},
		{"add existing learner", add(7, "127.0.0.1:9"), codes.FailedPrecondition},
		{"add taken address", add(8, "127.0.0.1:9"), codes.FailedPrecondition},
		{"remove id 0", remove(0), codes.InvalidArgument},
		{"remove unknown", remove(99), codes.NotFound},
		{"remove last voter", remove(1), codes.FailedPrecondition},
		{"transfer id 0", transfer(0), codes.InvalidArgument},
		{"transfer unknown", transfer(99), codes.NotFound},
		{"transfer to learner", transfer(7), codes.FailedPrecondition},
	}
	for _, tc := range cases {
		wantCode(t, tc.name, tc.err, tc.want)
	}
	if err := remove(7); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "re-add removed id", add(7, "127.0.0.1:9"), codes.FailedPrecondition)
	wantCode(t, "remove removed id", remove(7), codes.FailedPrecondition)
	if err := transfer(1); err != nil {
		t.Errorf("transfer to the leader itself: %v", err)
	}
}
