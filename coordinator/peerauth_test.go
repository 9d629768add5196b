package coordinator

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/verdict-tx/verdict/internal/testpki"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// forgedCommit is a MsgApp from node from to s, in term, that appends after
// s's last entry (the cluster is idle: its commit index, in its current
// term) a COMMIT record of txid for parts, and commits it.
func forgedCommit(t *testing.T, s *Server, from, term uint64, txid string, parts ...*testParticipant) *raftpb.Message {
	t.Helper()
	d := &logv1.Decision{Txid: txid, Outcome: verdictv1.Outcome_OUTCOME_COMMITTED, DecidedUnixMs: time.Now().UnixMilli()}
	for _, p := range parts {
		d.Participants = append(d.Participants, &verdictv1.ParticipantRef{Name: p.name, Address: p.addr})
	}
	rec, err := proto.Marshal(&logv1.LogBatch{Records: []*logv1.LogRecord{{Kind: &logv1.LogRecord_Decision{Decision: d}}}})
	if err != nil {
		t.Fatal(err)
	}
	data := append(binary.BigEndian.AppendUint64(nil, 1), rec...)
	st := s.Node().Status()
	return &raftpb.Message{
		Type: raftpb.MsgApp.Enum(), From: new(from), To: new(st.ID), Term: new(term),
		Index: new(st.Commit), LogTerm: new(st.Term), Commit: new(st.Commit + 1),
		Entries: []*raftpb.Entry{{Term: new(term), Index: new(st.Commit + 1), Data: data}},
	}
}

// heartbeat is a MsgHeartbeat from node from to node to in term.
func heartbeat(from, to, term uint64) *raftpb.Message {
	return &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: new(from), To: new(to), Term: new(term)}
}

// dropped is how many raft messages s dropped for reason.
func dropped(t *testing.T, s *Server, reason string) float64 {
	t.Helper()
	return value(t, gather(t, s), "verdict_raft_messages_dropped_total", "reason", reason)
}

// caughtUp waits until every node of c has applied the leader's commit
// index, and returns the leader and its term.
func caughtUp(t *testing.T, c *testCluster) (*Server, uint64) {
	t.Helper()
	lead := c.leader()
	testwait.For(t, 10*time.Second, "every node to apply the leader's log", func() bool {
		commit := lead.Node().Status().Commit
		for _, s := range c.nodes {
			if st := s.Node().Status(); st.Applied != commit || st.Commit != commit {
				return false
			}
		}
		return true
	})
	term, ok := lead.Node().LeaderTerm()
	if !ok {
		t.Fatal("the leader stopped leading")
	}
	return lead, term
}

// A node takes raft messages only from the ids of its configuration. From
// a member's address, messages from a made-up node id far ahead in term,
// a COMMIT record of an ACTIVE transaction sent to every node and a
// heartbeat sent to the leader, are dropped and counted: the leader leads
// on in its term, the transaction is decided by nobody but its initiator,
// and its participants, never asked to prepare, are never told to commit.
func TestRaftFromNonMemberDropped(t *testing.T) {
	c := newCluster(t, 3)
	p1, p2, cl := c.withParticipants()
	if _, err := runTx(callCtx(t), cl, p1, p2); err != nil {
		t.Fatal(err)
	}
	active := beginStaged(t, cl, p1, p2)
	lead, term := caughtUp(t, c)
	const stranger = 77
	for id, s := range c.nodes {
		msgs := []*raftpb.Message{forgedCommit(t, s, stranger, term+1000, active.ID(), p1, p2)}
		if s == lead {
			msgs = append(msgs, heartbeat(stranger, id, term+1000))
		}
		for _, m := range msgs {
			if err := sendRaft(t, s.Addr(), net.IPv4(127, 0, 0, 1), m); err != nil {
				t.Fatalf("send %v to node %d: %v", m.GetType(), id, err)
			}
		}
	}
	if got, ok := lead.Node().LeaderTerm(); !ok || got != term {
		t.Fatalf("after the forged messages node %d leads in term %d (%v); want it leading in term %d", lead.Node().ID(), got, ok, term)
	}
	// A transaction committed after them is applied everywhere: so would
	// the forged record have been.
	if _, err := runTx(callCtx(t), cl, p1, p2); err != nil {
		t.Fatalf("commit after the forged messages: %v", err)
	}
	caughtUp(t, c)
	for id, s := range c.nodes {
		if tx, ok := s.coord.Applied(active.ID()); ok {
			t.Errorf("node %d holds the active transaction as %v", id, tx.GetState())
		}
		if n := dropped(t, s, "not_member"); n < 1 {
			t.Errorf("node %d counted %v messages dropped from non-members, want at least 1", id, n)
		}
	}
	if got, ok := lead.Node().LeaderTerm(); !ok || got != term {
		t.Errorf("node %d leads in term %d (%v), want %d", lead.Node().ID(), got, ok, term)
	}
	if err := active.Abort(callCtx(t), "test"); err != nil {
		t.Fatalf("abort the active transaction: %v", err)
	}
	waitState(t, active.ID(), participant.TxAborted, p1, p2)
	noViolations(t, p1, p2)
}

// sendRaftTLS sends m to the Raft service at addr over TLS with sec, and
// returns the stream's answer.
func sendRaftTLS(t *testing.T, addr string, sec *tls.Config, m *raftpb.Message) error {
	t.Helper()
	return sendRaftWith(t, addr, m, grpc.WithTransportCredentials(credentials.NewTLS(sec)))
}

// Under TLS a node takes a raft message only when its sender id is the
// node id its connection's certificate names: node 3's certificate
// sending as the leader's other member, node 2, is dropped and counted, and
// the leader leads on in its term. A node certificate that names no node
// id is refused its stream.
func TestTLSRaftSenderMustMatchCertificate(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	c := tlsCluster(t, 3, ca, nil)
	lead, term := caughtUp(t, c)
	leadID := lead.Node().ID()
	other := uint64(1)
	for other == leadID {
		other++
	}
	impostor := uint64(6) - leadID - other // the third member
	asImpostor := ca.Client(t, fmt.Sprintf("node-%d", impostor), NodeOU)
	if err := sendRaftTLS(t, lead.Addr(), asImpostor, heartbeat(other, leadID, term+1000)); err != nil {
		t.Fatalf("send as node %d with node %d's certificate: %v", other, impostor, err)
	}
	if got, ok := lead.Node().LeaderTerm(); !ok || got != term {
		t.Fatalf("after the forged heartbeat node %d leads in term %d (%v); want it leading in term %d", leadID, got, ok, term)
	}
	if n := dropped(t, lead, "identity"); n < 1 {
		t.Errorf("the leader counted %v messages dropped for their certificate, want at least 1", n)
	}

	before := dropped(t, lead, "identity")
	anonymous := ca.Client(t, "anonymous-node", NodeOU)
	err := sendRaftTLS(t, lead.Addr(), anonymous, heartbeat(other, leadID, term+1000))
	wantCode(t, "Raft.Send with a node certificate naming no node id", err, codes.PermissionDenied)
	if n := dropped(t, lead, "identity"); n <= before {
		t.Errorf("the leader counted %v streams refused for their certificate (was %v), want more", n, before)
	}
	if got, ok := lead.Node().LeaderTerm(); !ok || got != term {
		t.Errorf("node %d leads in term %d (%v), want %d", leadID, got, ok, term)
	}
}
