package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/internal/testwait"
)

// testNodes is a coordinator cluster in this process on 127.0.0.1.
type testNodes struct {
	t     *testing.T
	tune  func(*coordinator.Config) // nil, or changes each node's config
	mu    sync.Mutex
	peers map[uint64]string
	srvs  map[uint64]*coordinator.Server
}

func startCluster(t *testing.T, n int) *testNodes {
	t.Helper()
	return startClusterWith(t, n, nil)
}

func startClusterWith(t *testing.T, n int, tune func(*coordinator.Config)) *testNodes {
	t.Helper()
	c := &testNodes{t: t, tune: tune, peers: map[uint64]string{}, srvs: map[uint64]*coordinator.Server{}}
	lis := map[uint64]net.Listener{}
	for id := uint64(1); id <= uint64(n); id++ {
		lis[id] = listen(t)
		c.peers[id] = lis[id].Addr().String()
	}
	for id := uint64(1); id <= uint64(n); id++ {
		c.start(id, lis[id], false)
	}
	testwait.For(c.t, 15*time.Second, "a ready leader", func() bool { return c.leader() != 0 })
	return c
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (c *testNodes) start(id uint64, l net.Listener, join bool) {
	c.t.Helper()
	cfg := coordinator.Config{
		ID: id, Peers: maps.Clone(c.peers), Join: join, DataDir: c.t.TempDir(), Listener: l,
		TickInterval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	srv, err := coordinator.Start(cfg)
	if err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	c.t.Cleanup(srv.Stop)
	c.mu.Lock()
	c.srvs[id] = srv
	c.mu.Unlock()
}

// leader returns the id of the ready leader, or 0.
func (c *testNodes) leader() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, s := range c.srvs {
		if _, ok := s.Node().LeaderTerm(); ok {
			return id
		}
	}
	return 0
}

func (c *testNodes) endpoints() string {
	var eps []string
	for id := uint64(1); id <= uint64(len(c.peers)); id++ {
		eps = append(eps, c.peers[id])
	}
	return "--endpoints=" + strings.Join(eps, ",")
}

// isLearner reports whether the leader lists id as a learner.
func (c *testNodes) isLearner(id uint64) bool {
	lead := c.leader()
	if lead == 0 {
		return false
	}
	c.mu.Lock()
	s := c.srvs[lead]
	c.mu.Unlock()
	for _, m := range s.Node().Status().Members {
		if m.ID == id {
			return m.Learner
		}
	}
	return false
}

type jsonMembers struct {
	Members []struct {
		ID         uint64 `json:"id"`
		Learner    bool   `json:"learner"`
		MatchIndex uint64 `json:"match_index"`
	} `json:"members"`
}

// TestClusterMembershipCommands grows a 3-node cluster to 4 with "cluster
// add" (which waits until the new node is a voter while the node is started
// in join mode), hands it leadership with "cluster transfer", removes a node
// with "cluster remove", and checks the refusals and their exit codes.
func TestClusterMembershipCommands(t *testing.T) {
	c := startCluster(t, 3)
	ep := c.endpoints()
	l4 := listen(t)
	addr4 := l4.Addr().String()

	// The operator adds node 4, then starts it: "cluster add" waits.
	type result struct {
		code        int
		out, errout string
	}
	added := make(chan result, 1)
	go func() {
		code, out, errs := ctl(t, "cluster", "add", "4="+addr4, ep, "--timeout", "30s", "-o", "json")
		added <- result{code, out, errs}
	}()
	testwait.For(c.t, 15*time.Second, "node 4 to be a learner", func() bool { return c.isLearner(4) })
	c.peers[4] = addr4
	c.start(4, l4, true)
	var r result
	select {
	case r = <-added:
	case <-time.After(40 * time.Second):
		t.Fatal("cluster add did not return")
	}
	if r.code != exitOK {
		t.Fatalf("cluster add: exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.errout)
	}
	if !strings.Contains(r.errout, "node 4: a voter") {
		t.Errorf("cluster add printed no progress up to voter: %q", r.errout)
	}
	var ms jsonMembers
	if err := json.Unmarshal([]byte(r.out), &ms); err != nil || len(ms.Members) != 4 {
		t.Fatalf("cluster add json = %s (%v); want 4 members", r.out, err)
	}
	for _, m := range ms.Members {
		if m.Learner || m.MatchIndex == 0 {
			t.Errorf("member %+v: want a voter with a match index", m)
		}
	}

	// Leadership to the new node.
	code, out, errs := ctl(t, "cluster", "transfer", "4", ep, "--timeout", "30s", "-o", "json")
	if code != exitOK || !strings.Contains(out, `"leader": 4`) {
		t.Fatalf("cluster transfer: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	// The old leader answers once it sees node 4 in office; node 4 is ready
	// (the leader's barrier applied) a moment later.
	testwait.For(c.t, 15*time.Second, "node 4 to be the ready leader", func() bool { return c.leader() == 4 })

	// Remove node 2, for people.
	code, out, errs = ctl(t, "cluster", "remove", "2", ep, "--timeout", "30s")
	if code != exitOK || !strings.Contains(out, "Node 2 removed") || strings.Contains(out, c.peers[2]) {
		t.Fatalf("cluster remove: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}

	refusals := []struct {
		args []string
		want int
	}{
		{[]string{"cluster", "remove", "2"}, exitFailure},                          // removed already
		{[]string{"cluster", "add", "2=127.0.0.1:1", "--wait=false"}, exitFailure}, // ids are never reused
		{[]string{"cluster", "add", "3=127.0.0.1:1"}, exitFailure},                 // a member already
		{[]string{"cluster", "remove", "99"}, exitUsage},                           // not found
		{[]string{"cluster", "transfer", "99"}, exitUsage},                         // not found
		{[]string{"cluster", "add", "5=nowhere"}, exitUsage},
		{[]string{"cluster", "add", "0=127.0.0.1:1"}, exitUsage},
		{[]string{"cluster", "add", "5"}, exitUsage},
		{[]string{"cluster", "add"}, exitUsage},
		{[]string{"cluster", "remove", "x"}, exitUsage},
		{[]string{"cluster", "transfer"}, exitUsage},
	}
	for _, tc := range refusals {
		code, out, errs := ctl(t, append(tc.args, ep, "--timeout", "30s")...)
		if code != tc.want || errs == "" {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.want, out, errs)
		}
	}
}

// TestClusterAddTimesOut: a node that never starts stays a learner, and
// "cluster add" says so when its wait runs out.
func TestClusterAddTimesOut(t *testing.T) {
	c := startCluster(t, 1)
	code, out, errs := ctl(t, "cluster", "add", "2="+deadEndpoint(t), c.endpoints(), "--timeout", "1s")
	if code != exitFailure || !strings.Contains(errs, "not a voter yet") || !strings.Contains(out, "added as a learner") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
}
