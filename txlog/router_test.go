package txlog

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestRouterDuplicatesAndReorders swaps every two messages a node receives
// and delivers the first of them twice: proposals still commit, each is
// applied once, and every node applies the same log.
func TestRouterDuplicatesAndReorders(t *testing.T) {
	lead, nodes := startGroup(t, 3)
	var mu sync.Mutex
	routed := 0
	for _, n := range nodes {
		var held *raftpb.Message
		n.SetRouter(func(m *raftpb.Message) []*raftpb.Message {
			mu.Lock()
			defer mu.Unlock()
			if held == nil {
				held = m
				return nil
			}
			out := []*raftpb.Message{m, held, proto.Clone(held).(*raftpb.Message)}
			held = nil
			routed++
			return out
		})
	}
	prev := 0
	for i := 0; i < 30; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := lead.Propose(ctx, []byte("x"))
		cancel()
		if err != nil {
			t.Fatalf("proposal %d: %v", i, err)
		}
		n := res.(int)
		if i > 0 && n != prev+1 {
			t.Fatalf("proposal %d applied as entry %d after entry %d: an entry was applied twice or lost", i, n, prev)
		}
		prev = n
	}
	want := lead.Status().Applied
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range nodes {
		for n.Status().Applied < want {
			if time.Now().After(deadline) {
				t.Fatalf("node %d applied %d, the leader %d", n.ID(), n.Status().Applied, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if routed == 0 {
		t.Fatal("the router saw no message")
	}
}
