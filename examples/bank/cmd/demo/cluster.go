package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/verdict-tx/verdict/coordinator"
)

// cluster is a coordinator cluster in this process, its nodes on 127.0.0.1
// ephemeral ports and its data in dir. Only the demo's one goroutine uses
// it, so it needs no lock.
type cluster struct {
	dir    string
	logger *slog.Logger
	peers  map[uint64]string
	nodes  map[uint64]*coordinator.Server
}

// startCluster starts n nodes. The listeners are all bound before the
// first node starts, since every node must know every peer's address.
func startCluster(n int, dir string, logger *slog.Logger) (*cluster, error) {
	c := &cluster{dir: dir, logger: logger, peers: map[uint64]string{}, nodes: map[uint64]*coordinator.Server{}}
	lis := map[uint64]net.Listener{}
	for id := uint64(1); id <= uint64(n); id++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			closeAll(lis)
			return nil, fmt.Errorf("listen for coordinator node %d: %w", id, err)
		}
		lis[id], c.peers[id] = l, l.Addr().String()
	}
	for _, id := range c.ids() {
		if err := c.start(id, lis[id]); err != nil {
			delete(lis, id) // start closed it
			closeAll(lis)
			c.stopAll()
			return nil, err
		}
		delete(lis, id)
	}
	return c, nil
}

func closeAll(lis map[uint64]net.Listener) {
	for _, l := range lis {
		l.Close()
	}
}

// start starts node id on l, or, when l is nil (a restart), on the node's
// own address again.
func (c *cluster) start(id uint64, l net.Listener) error {
	if l == nil {
		var err error
		if l, err = relisten(c.peers[id]); err != nil {
			return fmt.Errorf("restart coordinator node %d: %w", id, err)
		}
	}
	dataDir := filepath.Join(c.dir, fmt.Sprintf("node-%d", id))
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		l.Close()
		return fmt.Errorf("data dir of coordinator node %d: %w", id, err)
	}
	s, err := coordinator.Start(coordinator.Config{
		ID: id, Peers: c.peers, DataDir: dataDir, Listener: l, Logger: c.logger,
	})
	if err != nil {
		l.Close()
		return fmt.Errorf("start coordinator node %d: %w", id, err)
	}
	c.nodes[id] = s
	return nil
}

// relisten binds addr again. The port was a stopped node's a moment ago:
// retry, bounded, while the kernel releases it.
func relisten(addr string) (net.Listener, error) {
	var l net.Listener
	err := poll(context.Background(), 5*time.Second, "listening on "+addr+" again", func() (bool, error) {
		var err error
		l, err = net.Listen("tcp", addr)
		return err == nil, nil
	})
	return l, err
}

func (c *cluster) stop(id uint64) {
	if s := c.nodes[id]; s != nil {
		s.Stop()
		delete(c.nodes, id)
	}
}

func (c *cluster) stopAll() {
	for _, id := range c.ids() {
		c.stop(id)
	}
}

// ids are the members' ids in order, so that output and endpoints are
// stable from run to run.
func (c *cluster) ids() []uint64 {
	var ids []uint64
	for id := range c.peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (c *cluster) endpoints() []string {
	var eps []string
	for _, id := range c.ids() {
		eps = append(eps, c.peers[id])
	}
	return eps
}

// awaitLeader polls the running nodes until one leads (has applied its
// log up to its term, so it serves), and returns its id and term.
func (c *cluster) awaitLeader(ctx context.Context, limit time.Duration) (id, term uint64, err error) {
	err = poll(ctx, limit, "a coordinator leader", func() (bool, error) {
		for _, n := range c.ids() {
			s := c.nodes[n]
			if s == nil {
				continue
			}
			if t, ok := s.Node().LeaderTerm(); ok {
				id, term = n, t
				return true, nil
			}
		}
		return false, nil
	})
	return id, term, err
}

// errTimeout is what poll returns when its condition does not hold in time.
var errTimeout = errors.New("timed out")

// poll checks cond every 10ms until it holds, fails, ctx ends, or limit
// passes: every wait of the demo is bounded and polls a condition rather
// than sleeping a guessed time.
func poll(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w after %v waiting for %s", errTimeout, limit, what)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}
