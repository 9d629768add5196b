package txlog

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	peerv1 "github.com/verdict-tx/verdict/proto/verdict/peer/v1"
)

// A node drops, without stepping them into raft, the messages no peer
// sends: one addressed to another node, one from no node or from itself, a
// type raft keeps within a node, and a proposal (no node forwards one);
// a well-formed message from a member on the same stream is stepped, and
// the node goes on committing.
func TestTransportDropsMalformedMessages(t *testing.T) {
	g := newGroup(t, 3, nil)
	lead := g.leader()
	self := lead.ID()
	other := self%3 + 1
	var mu sync.Mutex
	var stepped []*raftpb.Message
	lead.SetRouter(func(m *raftpb.Message) []*raftpb.Message {
		if m.GetTerm() == 0 { // the test's: every peer's message has a term
			mu.Lock()
			defer mu.Unlock()
			stepped = append(stepped, m)
		}
		return []*raftpb.Message{m}
	})
	msg := func(typ raftpb.MessageType, from, to uint64) *raftpb.Message {
		return &raftpb.Message{Type: typ.Enum(), From: new(from), To: new(to)}
	}
	forged := msg(raftpb.MsgProp, other, self)
	forged.Entries = []*raftpb.Entry{{Data: []byte("forged record")}}
	bad := []*raftpb.Message{
		forged,
		msg(raftpb.MsgApp, other, 99),             // another node's
		msg(raftpb.MsgTimeoutNow, other, 99),      // another node's
		msg(raftpb.MsgHeartbeat, 0, self),         // from no node
		msg(raftpb.MsgHeartbeat, self, self),      // from itself
		msg(raftpb.MsgHup, other, self),           // local to a node
		msg(raftpb.MsgStorageAppend, other, self), // local to a node
	}
	good := msg(raftpb.MsgHeartbeatResp, other, self) // of no term: a harmless local step

	// The node answers once it has handled every message of the stream.
	if err := sendRaft(t, g.peers()[self], append(bad, good)...); err != nil {
		t.Fatalf("stream: %v", err)
	}
	mu.Lock()
	got := stepped
	mu.Unlock()
	if len(got) != 1 || got[0].GetType() != raftpb.MsgHeartbeatResp {
		t.Fatalf("stepped %v, want only the heartbeat response", got)
	}
	if n := lead.Dropped()[DropInvalid]; n < uint64(len(bad)) {
		t.Errorf("counted %d invalid messages dropped, want at least %d", n, len(bad))
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer pcancel()
	if _, err := lead.Propose(pctx, []byte("x")); err != nil {
		t.Fatalf("propose after the malformed messages: %v", err)
	}
	if n := g.get(self).sm.count(); n != 1 {
		t.Errorf("state machine holds %d records, want 1: a forged proposal was applied", n)
	}
}

// sendRaft sends msgs to the peer service at addr on one plaintext stream
// and returns the stream's answer, which comes once the node has handled
// every message.
func sendRaft(t *testing.T, addr string, msgs ...*raftpb.Message) error {
	t.Helper()
	raw := make([]*peerv1.RaftMessage, len(msgs))
	for i, m := range msgs {
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		raw[i] = &peerv1.RaftMessage{Data: data}
	}
	return sendStream(t, addr, raw)
}

// sendStream sends msgs, as they are, to the peer service at addr on one
// plaintext stream and returns the stream's answer.
func sendStream(t *testing.T, addr string, msgs []*peerv1.RaftMessage) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := peerv1.NewRaftClient(cc).Send(ctx)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := s.Send(m); err != nil {
			if errors.Is(err, io.EOF) {
				break // the node ended the stream: CloseAndRecv says why
			}
			return err
		}
	}
	_, err = s.CloseAndRecv()
	return err
}
