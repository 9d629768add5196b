package txlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/verdict-tx/verdict/internal/testwait"
)

// listSM is a state machine that counts the entries applied and remembers
// whether it was ever restored from a snapshot. Its snapshot is the count,
// padded to pad bytes.
type listSM struct {
	mu       sync.Mutex
	n        uint64
	restored bool
	pad      int
}

func (s *listSM) Apply(_, _ uint64, _ []byte) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.n
}

func (s *listSM) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := make([]byte, max(8, s.pad))
	binary.BigEndian.PutUint64(b, s.n)
	return b, nil
}

func (s *listSM) Restore(_ uint64, data []byte) error {
	if err := s.CheckSnapshot(data); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n, s.restored = binary.BigEndian.Uint64(data), true
	return nil
}

func (s *listSM) CheckSnapshot(data []byte) error {
	if len(data) < 8 {
		return fmt.Errorf("snapshot of %d bytes", len(data))
	}
	return nil
}

func (s *listSM) count() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// group is a Raft group in this test process over real gRPC on 127.0.0.1,
// each node with its own data dir.
type group struct {
	t     *testing.T
	tune  func(*Config)
	pad   int // state machine snapshot size
	mu    sync.Mutex
	addrs map[uint64]string
	dirs  map[uint64]string
	nodes map[uint64]*groupNode
}

type groupNode struct {
	node *Node
	sm   *listSM
	srv  *grpc.Server
}

func testLog() *slog.Logger {
	if os.Getenv("VERDICT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newGroup starts nodes 1..n as a new group and waits for a ready leader.
func newGroup(t *testing.T, n int, tune func(*Config)) *group {
	t.Helper()
	g := &group{t: t, tune: tune, addrs: map[uint64]string{}, dirs: map[uint64]string{}, nodes: map[uint64]*groupNode{}}
	// Cleanups run last-registered first: the temp dirs' removal must come
	// after the nodes have stopped writing to them.
	t.TempDir()
	t.Cleanup(g.stopAll)
	lis := map[uint64]net.Listener{}
	for id := uint64(1); id <= uint64(n); id++ {
		lis[id] = g.reserve(id)
	}
	peers := g.peers()
	for id := uint64(1); id <= uint64(n); id++ {
		g.start(id, lis[id], peers, false)
	}
	g.leader()
	return g
}

// reserve gives node id an address and a data dir; it returns the listener.
func (g *group) reserve(id uint64) net.Listener {
	g.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		g.t.Fatal(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.addrs[id] = l.Addr().String()
	g.dirs[id] = filepath.Join(g.t.TempDir(), fmt.Sprint(id))
	return l
}

// peers returns every address given out so far.
func (g *group) peers() map[uint64]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.addrs)
}

// start starts node id on l (or its old address if l is nil) with peers.
func (g *group) start(id uint64, l net.Listener, peers map[uint64]string, join bool) *groupNode {
	g.t.Helper()
	if l == nil {
		var err error
		for i := 0; i < 100; i++ { // the old socket may linger briefly
			if l, err = net.Listen("tcp", g.addrs[id]); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			g.t.Fatalf("relisten node %d: %v", id, err)
		}
	}
	sm := &listSM{pad: g.pad}
	cfg := Config{
		ID: id, Peers: peers, Join: join, DataDir: g.dirs[id], StateMachine: sm,
		TickInterval: 10 * time.Millisecond, Logger: testLog().With("test", g.t.Name()),
	}
	if g.tune != nil {
		g.tune(&cfg)
	}
	node, err := StartNode(cfg)
	if err != nil {
		l.Close()
		g.t.Fatalf("start node %d: %v", id, err)
	}
	srv := grpc.NewServer()
	node.Register(srv)
	go srv.Serve(l)
	gn := &groupNode{node: node, sm: sm, srv: srv}
	g.mu.Lock()
	g.nodes[id] = gn
	g.mu.Unlock()
	return gn
}

func (g *group) stop(id uint64) {
	g.mu.Lock()
	gn := g.nodes[id]
	delete(g.nodes, id)
	g.mu.Unlock()
	if gn != nil {
		gn.srv.Stop()
		gn.node.Stop()
	}
}

func (g *group) stopAll() {
	g.mu.Lock()
	ids := slices.Collect(maps.Keys(g.nodes))
	g.mu.Unlock()
	for _, id := range ids {
		g.stop(id)
	}
}

func (g *group) get(id uint64) *groupNode {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.nodes[id]
}

// leader waits (bounded) for a ready leader among the running nodes.
func (g *group) leader() *Node {
	g.t.Helper()
	var lead *Node
	testwait.For(g.t, 10*time.Second, "a ready leader", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, gn := range g.nodes {
			if _, ok := gn.node.LeaderTerm(); ok {
				lead = gn.node
				return true
			}
		}
		return false
	})
	return lead
}

// follower returns a running node that is not the leader.
func (g *group) follower() *Node {
	g.t.Helper()
	lead := g.leader()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, gn := range g.nodes {
		if gn.node != lead {
			return gn.node
		}
	}
	g.t.Fatal("no follower")
	return nil
}

// propose commits n entries through the leader.
//
// A leader change under a loaded machine (the tests tick every 10 ms) may
// cut a proposal short: it is proposed again at the next leader, up to a few
// times. Its first try may have been applied too, so callers count entries
// as "at least n" or compare nodes with each other.
func (g *group) propose(n int) {
	g.t.Helper()
	for i := 0; i < n; i++ {
		var err error
		for try := 0; try < 5; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = g.leader().Propose(ctx, []byte(fmt.Sprintf("entry-%d", i)))
			cancel()
			if !errors.Is(err, ErrLeadershipLost) && !errors.Is(err, ErrNotLeader) {
				break
			}
		}
		if err != nil {
			g.t.Fatalf("propose %d: %v", i, err)
		}
	}
}

// member returns id's entry in node's membership, if any.
func member(n *Node, id uint64) (Member, bool) {
	for _, m := range n.Status().Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

func isVoter(n *Node, id uint64) bool {
	m, ok := member(n, id)
	return ok && !m.Learner
}
