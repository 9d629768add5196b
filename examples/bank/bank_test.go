package bank_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/examples/bank/account"
	"github.com/verdict-tx/verdict/examples/bank/bankpb"
	"github.com/verdict-tx/verdict/internal/pgtest"
	"github.com/verdict-tx/verdict/internal/testwait"
)

// The bank test creates two databases, one per account service, through
// pgtest (which names them apart from other runs' and skips the test
// without PostgreSQL).

var bankDatabases = []string{"verdict_bank_a", "verdict_bank_b"}

const (
	accountsPerBank = 8
	initialBalance  = 1000
)

func quiet() *slog.Logger {
	if os.Getenv("VERDICT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// cluster is a 3-node coordinator cluster in this process on 127.0.0.1.
type cluster struct {
	t     *testing.T
	peers map[uint64]string
	dirs  map[uint64]string
	mu    sync.Mutex
	nodes map[uint64]*coordinator.Server
}

func startCluster(t *testing.T) *cluster {
	c := &cluster{t: t, peers: map[uint64]string{}, dirs: map[uint64]string{}, nodes: map[uint64]*coordinator.Server{}}
	lis := map[uint64]net.Listener{}
	for id := uint64(1); id <= 3; id++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[id], c.peers[id], c.dirs[id] = l, l.Addr().String(), t.TempDir()
	}
	for id, l := range lis {
		c.start(id, l)
	}
	t.Cleanup(func() {
		for id := range c.peers {
			c.stop(id)
		}
	})
	return c
}

func (c *cluster) start(id uint64, l net.Listener) {
	if l == nil {
		var err error
		// The port was this node's a moment ago: retry while the old
		// socket is released.
		for range 100 {
			if l, err = net.Listen("tcp", c.peers[id]); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			c.t.Fatalf("relisten node %d: %v", id, err)
		}
	}
	s, err := coordinator.Start(coordinator.Config{
		ID: id, Peers: c.peers, DataDir: c.dirs[id], Listener: l, Logger: quiet().With("node", id),
	})
	if err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	c.mu.Lock()
	c.nodes[id] = s
	c.mu.Unlock()
}

func (c *cluster) stop(id uint64) {
	c.mu.Lock()
	s := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if s != nil {
		s.Stop()
	}
}

// leader waits (bounded) for a node to lead and returns its id.
func (c *cluster) leader() uint64 {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for id, s := range c.nodes {
			if _, ok := s.Node().LeaderTerm(); ok {
				c.mu.Unlock()
				return id
			}
		}
		c.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no leader within 15s")
	return 0
}

func (c *cluster) endpoints() []string {
	var eps []string
	for _, a := range c.peers {
		eps = append(eps, a)
	}
	return eps
}

func dialService(t *testing.T, addr string) bankpb.AccountsClient {
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return bankpb.NewAccountsClient(conn)
}

// TestTransfersSurviveLeaderRestarts moves money between two account
// services, each with its own PostgreSQL database, from many concurrent
// initiators while the coordinator leader is stopped and restarted, then
// checks that no money was made or lost and nothing stays prepared.
func TestTransfersSurviveLeaderRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var pools []*pgxpool.Pool
	for _, db := range bankDatabases {
		pools = append(pools, pgtest.NewDatabase(t, ctx, db, 24))
	}
	cl := startCluster(t)
	cl.leader()

	names := []string{"bank-a", "bank-b"}
	svcs := make([]bankpb.AccountsClient, 2)
	for i, pool := range pools {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s, err := account.Start(ctx, account.Config{
			Name: names[i], Pool: pool, Listener: l, Coordinators: cl.endpoints(), Logger: quiet().With("svc", names[i]),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		seed := map[string]int64{}
		for a := range accountsPerBank {
			seed[fmt.Sprintf("acct-%d", a)] = initialBalance
		}
		if err := account.Seed(ctx, pool, seed); err != nil {
			t.Fatal(err)
		}
		svcs[i] = dialService(t, l.Addr().String())
	}
	c, err := client.Dial(cl.endpoints())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	const (
		workers    = 8
		restarts   = 3
		maxPerWork = 400 // bounds each worker's loop
	)
	var (
		stop                          atomic.Bool
		committed, aborted, ambiguous atomic.Int64
		wg                            sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < maxPerWork && !stop.Load() && ctx.Err() == nil; n++ {
				from, to := svcs[0], svcs[1]
				if (w+n)%2 == 1 {
					from, to = to, from
				}
				acctFrom := fmt.Sprintf("acct-%d", (w+n)%accountsPerBank)
				acctTo := fmt.Sprintf("acct-%d", (w*3+n)%accountsPerBank)
				tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
				err := account.Transfer(tctx, c, from, to, acctFrom, acctTo, int64(1+n%7))
				tcancel()
				switch {
				case err == nil:
					committed.Add(1)
				case errors.Is(err, client.ErrAmbiguous):
					ambiguous.Add(1)
				default:
					aborted.Add(1)
				}
			}
		}()
	}
	// Restart the leader a few times, each after some commits.
	for r := range restarts {
		target := committed.Load() + 30
		testwait.For(t, 30*time.Second, fmt.Sprintf("30 commits before restart %d", r+1), func() bool { return committed.Load() >= target })
		id := cl.leader()
		cl.stop(id)
		cl.start(id, nil)
	}
	target := committed.Load() + 30
	testwait.For(t, 30*time.Second, "30 commits after the last restart", func() bool { return committed.Load() >= target })
	stop.Store(true)
	wg.Wait()
	t.Logf("transfers: committed %d, aborted %d, ambiguous %d, leader restarts %d",
		committed.Load(), aborted.Load(), ambiguous.Load(), restarts)

	// Phase 2 and the participants' recovery finish what is left.
	testwait.For(t, 60*time.Second, "no prepared transaction left in either database", func() bool {
		for _, p := range pools {
			var n int
			if err := p.QueryRow(ctx, "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()").Scan(&n); err != nil || n > 0 {
				return false
			}
		}
		return true
	})
	var total int64
	for _, p := range pools {
		sum, err := account.Total(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		total += sum
	}
	if want := int64(len(pools) * accountsPerBank * initialBalance); total != want {
		t.Fatalf("total balance %d after the transfers, want %d: money was made or lost", total, want)
	}
	if committed.Load() == 0 {
		t.Fatal("no transfer committed")
	}
}
