package coordinator

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

// testCluster is a coordinator cluster in this test process, each node a
// real gRPC server on 127.0.0.1 with its own data dir.
type testCluster struct {
	t     testing.TB
	tune  func(*Config)
	peers map[uint64]string
	dirs  map[uint64]string
	mu    sync.Mutex
	nodes map[uint64]*Server
}

func testLogger() *slog.Logger {
	if os.Getenv("VERDICT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newCluster(t testing.TB, n int) *testCluster {
	return newTunedCluster(t, n, nil)
}

// newTunedCluster is newCluster with tune applied to every node's Config.
func newTunedCluster(t testing.TB, n int, tune func(*Config)) *testCluster {
	t.Helper()
	c, lis := reserveCluster(t, n, tune)
	for id := uint64(1); id <= uint64(n); id++ {
		c.start(id, lis[id])
	}
	return c
}

// reserveCluster gives nodes 1..n of a cluster their addresses and data
// dirs, and starts none of them: c.start(id, lis[id]) does.
func reserveCluster(t testing.TB, n int, tune func(*Config)) (c *testCluster, lis map[uint64]net.Listener) {
	t.Helper()
	c = &testCluster{t: t, tune: tune, peers: map[uint64]string{}, dirs: map[uint64]string{}, nodes: map[uint64]*Server{}}
	lis = map[uint64]net.Listener{}
	for id := uint64(1); id <= uint64(n); id++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[id] = l
		c.peers[id] = l.Addr().String()
		c.dirs[id] = filepath.Join(t.TempDir(), fmt.Sprint(id))
	}
	t.Cleanup(func() {
		c.stopAll()
		for _, l := range lis {
			l.Close() // those of nodes never started
		}
	})
	return c, lis
}

// start starts node id on l (or its old address if l is nil).
func (c *testCluster) start(id uint64, l net.Listener) *Server {
	c.t.Helper()
	if l == nil {
		var err error
		// The port was ours a moment ago; retry briefly while the old
		// socket is released.
		for i := 0; i < 100; i++ {
			if l, err = net.Listen("tcp", c.peers[id]); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			c.t.Fatalf("relisten node %d: %v", id, err)
		}
	}
	cfg := Config{
		ID:            id,
		Peers:         c.peers,
		DataDir:       c.dirs[id],
		Listener:      l,
		TickInterval:  10 * time.Millisecond,
		ElectionTicks: 10,
		Logger:        testLogger().With("test", c.t.Name()),
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	s, err := Start(cfg)
	if err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	c.mu.Lock()
	c.nodes[id] = s
	c.mu.Unlock()
	return s
}

func (c *testCluster) stop(id uint64) {
	c.mu.Lock()
	s := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if s != nil {
		s.Stop()
	}
}

func (c *testCluster) stopAll() {
	for id := range c.peers {
		c.stop(id)
	}
}

func (c *testCluster) endpoints() []string {
	var out []string
	for id := uint64(1); id <= uint64(len(c.peers)); id++ {
		out = append(out, c.peers[id])
	}
	return out
}

// leader waits (bounded) until one running node is the ready leader.
func (c *testCluster) leader() *Server {
	c.t.Helper()
	var found *Server
	testwait.For(c.t, 10*time.Second, "a ready leader", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.nodes {
			if _, ok := s.Node().LeaderTerm(); ok {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

func (c *testCluster) follower() *Server {
	c.t.Helper()
	lead := c.leader()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.nodes {
		if s != lead {
			return s
		}
	}
	c.t.Fatal("no follower running")
	return nil
}

// testParticipant is a participant service in this process: an in-memory
// resource behind the participant SDK and the Work service.
type testParticipant struct {
	name string
	addr string
	res  *participant.MemResource
	srv  *participant.Server
	g    *grpc.Server
	conn *grpc.ClientConn // the initiator's connection to it
}

func startParticipant(t testing.TB, name string, coordinators []string) *testParticipant {
	t.Helper()
	mem := participant.NewMemResource()
	return startParticipantOver(t, name, coordinators, mem, mem)
}

// startParticipantOver is startParticipant with the participant SDK serving
// res, a Resource over mem (a fault-injecting wrapper, in some tests).
func startParticipantOver(t testing.TB, name string, coordinators []string, mem *participant.MemResource, res participant.Resource) *testParticipant {
	t.Helper()
	return startParticipantWith(t, name, coordinators, mem, res, nil)
}

// startParticipantWith is startParticipantOver with register, if set,
// registering more services on the participant's gRPC server before it
// serves.
func startParticipantWith(t testing.TB, name string, coordinators []string, mem *participant.MemResource, res participant.Resource, register func(*grpc.Server)) *testParticipant {
	t.Helper()
	return startParticipantTLS(t, name, coordinators, mem, res, register, nil)
}

// participantTLS secures a test participant: srv is its gRPC server's (it
// verifies the coordinator's client certificate), cli its calls to the
// coordinators' and the initiator's calls to it.
type participantTLS struct{ srv, cli *tls.Config }

// startParticipantTLS is startParticipantWith over TLS when sec is set.
func startParticipantTLS(t testing.TB, name string, coordinators []string, mem *participant.MemResource, res participant.Resource, register func(*grpc.Server), sec *participantTLS) *testParticipant {
	t.Helper()
	var (
		creds   = insecure.NewCredentials()
		srvOpts []grpc.ServerOption
		cliTLS  *tls.Config
	)
	if sec != nil {
		creds, cliTLS = credentials.NewTLS(sec.cli), sec.cli
		srvOpts = append(srvOpts, grpc.Creds(credentials.NewTLS(sec.srv)))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testParticipant{name: name, addr: l.Addr().String(), res: mem}
	p.res.KeepHistory(true)
	p.srv, err = participant.NewServer(participant.Config{
		Name:         name,
		Address:      p.addr,
		Resource:     res,
		Coordinators: coordinators,
		TLS:          cliTLS,
		Logger:       testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	p.g = grpc.NewServer(append(srvOpts, grpc.UnaryInterceptor(p.srv.UnaryServerInterceptor()))...)
	p.srv.Register(p.g)
	worksvc.Register(p.g, p.res)
	if register != nil {
		register(p.g)
	}
	go p.g.Serve(l)
	p.conn, err = grpc.NewClient(p.addr,
		grpc.WithTransportCredentials(creds),
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

// withParticipants starts participants p1 and p2, which know every node of
// c, and a client of c.
func (c *testCluster) withParticipants() (p1, p2 *testParticipant, cl *client.Client) {
	c.t.Helper()
	eps := c.endpoints()
	return startParticipant(c.t, "p1", eps), startParticipant(c.t, "p2", eps), dial(c.t, eps...)
}

func dial(t testing.TB, endpoints ...string) *client.Client {
	t.Helper()
	c, err := client.Dial(endpoints)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runTx begins a transaction, stages a write at each participant, and
// commits it.
func runTx(ctx context.Context, c *client.Client, parts ...*testParticipant) (string, error) {
	tx, err := c.Begin(ctx)
	if err != nil {
		return "", err
	}
	tctx := tx.Context(ctx)
	for _, p := range parts {
		if err := worksvc.Stage(tctx, p.conn, "k-"+tx.ID()); err != nil {
			_ = tx.Abort(ctx, "stage failed")
			return tx.ID(), fmt.Errorf("stage at %s: %w", p.name, err)
		}
	}
	return tx.ID(), tx.Commit(ctx)
}

// waitState waits until txid reaches want at every participant.
func waitState(t testing.TB, txid string, want participant.TxState, parts ...*testParticipant) {
	t.Helper()
	for _, p := range parts {
		testwait.For(t, 10*time.Second, fmt.Sprintf("%s %v at %s", txid, want, p.name), func() bool {
			return p.res.State(txid) == want
		})
	}
}

func noViolations(t testing.TB, parts ...*testParticipant) {
	t.Helper()
	for _, p := range parts {
		if v := p.res.Violations(); len(v) > 0 {
			t.Errorf("participant %s recorded atomicity violations: %v", p.name, v)
		}
	}
}

// testConn is a connection to a node, closed when the test ends.
func testConn(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func coordClient(t testing.TB, addr string) verdictv1.CoordinatorClient {
	t.Helper()
	return verdictv1.NewCoordinatorClient(testConn(t, addr))
}

// coordClients gives a test that polls nodes one client per node address:
// a connection per poll would soon reach a node's MaxConnectionsPerHost
// (every test connection comes from 127.0.0.1). For the test's goroutine
// only.
func coordClients(t testing.TB) func(addr string) verdictv1.CoordinatorClient {
	clients := map[string]verdictv1.CoordinatorClient{}
	return func(addr string) verdictv1.CoordinatorClient {
		cc, ok := clients[addr]
		if !ok {
			cc = coordClient(t, addr)
			clients[addr] = cc
		}
		return cc
	}
}
