package txlog

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// A node drops, without stepping them into raft, the messages no peer
// sends: one addressed to another node, one from no node or from itself, a
// type raft keeps within a node, and a proposal (no node forwards one);
// a well-formed message on the same stream is stepped, and the node goes
// on committing.
func TestTransportDropsMalformedMessages(t *testing.T) {
	g := newGroup(t, 1, nil)
	lead := g.leader()
	var mu sync.Mutex
	var stepped []*raftpb.Message
	lead.SetRouter(func(m *raftpb.Message) []*raftpb.Message {
		mu.Lock()
		defer mu.Unlock()
		stepped = append(stepped, m)
		return []*raftpb.Message{m}
	})
	msg := func(typ raftpb.MessageType, from, to uint64) *raftpb.Message {
		return &raftpb.Message{Type: typ.Enum(), From: new(from), To: new(to)}
	}
	forged := msg(raftpb.MsgProp, 2, 1)
	forged.Entries = []*raftpb.Entry{{Data: []byte("forged record")}}
	bad := []*raftpb.Message{
		forged,
		msg(raftpb.MsgApp, 2, 99),          // another node's
		msg(raftpb.MsgTimeoutNow, 2, 99),   // another node's
		msg(raftpb.MsgHeartbeat, 0, 1),     // from no node
		msg(raftpb.MsgHeartbeat, 1, 1),     // from itself
		msg(raftpb.MsgHup, 2, 1),           // local to a node
		msg(raftpb.MsgStorageAppend, 2, 1), // local to a node
	}
	good := msg(raftpb.MsgHeartbeatResp, 2, 1) // no progress for node 2: ignored

	cc, err := grpc.NewClient(g.peers()[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := verdictv1.NewRaftClient(cc).Send(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range append(bad, good) {
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(&verdictv1.RaftMessage{Data: data}); err != nil {
			t.Fatalf("send %v: %v", m.GetType(), err)
		}
	}
	// The node answers once it has handled every message of the stream.
	if _, err := s.CloseAndRecv(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	mu.Lock()
	got := stepped
	mu.Unlock()
	if len(got) != 1 || got[0].GetType() != raftpb.MsgHeartbeatResp {
		t.Fatalf("stepped %v, want only the heartbeat response", got)
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer pcancel()
	if _, err := lead.Propose(pctx, []byte("x")); err != nil {
		t.Fatalf("propose after the malformed messages: %v", err)
	}
	if n := g.get(1).sm.count(); n != 1 {
		t.Errorf("state machine holds %d records, want 1: a forged proposal was applied", n)
	}
}
