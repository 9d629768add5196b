package txlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
)

type countSM struct{ n int }

func (s *countSM) Apply(uint64, uint64, []byte) any { s.n++; return s.n }
func (s *countSM) Snapshot() ([]byte, error)        { return []byte(fmt.Sprint(s.n)), nil }
func (s *countSM) Restore(uint64, []byte) error     { return nil }
func (s *countSM) CheckSnapshot([]byte) error       { return nil }

// startGroup starts n nodes over real gRPC on 127.0.0.1 and returns the
// ready leader.
func startGroup(tb testing.TB, n int) (*Node, []*Node) {
	tb.Helper()
	peers := map[uint64]string{}
	lis := map[uint64]net.Listener{}
	for id := uint64(1); id <= uint64(n); id++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		lis[id], peers[id] = l, l.Addr().String()
	}
	var nodes []*Node
	dir := tb.TempDir()
	for id := uint64(1); id <= uint64(n); id++ {
		node, err := StartNode(Config{
			ID: id, Peers: peers, DataDir: filepath.Join(dir, fmt.Sprint(id)),
			StateMachine: &countSM{}, TickInterval: 10 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			tb.Fatal(err)
		}
		g := grpc.NewServer()
		node.Register(g)
		go g.Serve(lis[id])
		tb.Cleanup(func() { g.Stop(); node.Stop() })
		nodes = append(nodes, node)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, node := range nodes {
			if _, ok := node.LeaderTerm(); ok {
				return node, nodes
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatal("no leader")
	return nil, nil
}

// BenchmarkProposeSerial measures one proposal's latency in a 3-node group:
// replicate, fsync on a quorum, commit, apply.
func BenchmarkProposeSerial(b *testing.B) {
	lead, _ := startGroup(b, 3)
	data := make([]byte, 200)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := lead.Propose(context.Background(), data); err != nil {
			b.Fatal(err)
		}
	}
}
