package coordinator

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/internal/bearer"
	"github.com/verdict-tx/verdict/internal/testpki"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/internal/txid"
	"github.com/verdict-tx/verdict/participant"
	peerv1 "github.com/verdict-tx/verdict/proto/verdict/peer/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// tlsCluster is a cluster whose nodes serve mutual TLS with node
// certificates signed by ca; tune, if set, then adjusts each Config.
func tlsCluster(t *testing.T, n int, ca *testpki.CA, tune func(*Config)) *testCluster {
	t.Helper()
	return newTunedCluster(t, n, func(cfg *Config) {
		cfg.TLS = ca.Server(t, fmt.Sprintf("node-%d", cfg.ID), NodeOU)
		if tune != nil {
			tune(cfg)
		}
	})
}

// connTo is a connection to addr, over TLS with sec when set, sending token
// as the admin token when set.
func connTo(t *testing.T, addr string, sec *tls.Config, token string) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if sec != nil {
		creds = credentials.NewTLS(sec)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer.Credentials(token)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// tlsParticipant starts participant name with a certificate from ca (no
// role) for its server and its calls.
func tlsParticipant(t *testing.T, ca *testpki.CA, name string, coordinators []string) *testParticipant {
	t.Helper()
	mem := participant.NewMemResource()
	sec := &participantTLS{srv: ca.Server(t, name), cli: ca.Client(t, name)}
	return startParticipantTLS(t, name, coordinators, mem, mem, nil, sec)
}

// Over mutual TLS a 3-node cluster commits (the initiator talks to a
// follower, which forwards to the leader; the leader dials the participants
// with its certificate), and a follower forwards an operator's action to the
// leader: an admin certificate may, a participant's may not.
func TestTLSClusterCommitsAndForwardsAdmin(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	c := tlsCluster(t, 3, ca, nil)
	fol := c.follower()
	p1, p2 := tlsParticipant(t, ca, "p1", c.endpoints()), tlsParticipant(t, ca, "p2", c.endpoints())
	cl, err := client.Dial([]string{fol.Addr()}, client.WithTLS(ca.Client(t, "initiator")))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := callCtx(t)
	id, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatalf("commit over TLS: %v", err)
	}
	waitState(t, id, participant.TxCommitted, p1, p2)

	asParticipant := verdictv1.NewAdminClient(connTo(t, fol.Addr(), ca.Client(t, "p1"), ""))
	if _, err := asParticipant.Status(ctx, &verdictv1.StatusRequest{}); err != nil {
		t.Fatalf("Status with a participant certificate: %v", err)
	}
	_, err = asParticipant.TransferLeadership(ctx, &verdictv1.TransferLeadershipRequest{Id: fol.Node().ID()})
	wantCode(t, "TransferLeadership with a participant certificate", err, codes.PermissionDenied)

	asAdmin := verdictv1.NewAdminClient(connTo(t, fol.Addr(), ca.Client(t, "operator", AdminOU), ""))
	if _, err := asAdmin.TransferLeadership(ctx, &verdictv1.TransferLeadershipRequest{Id: fol.Node().ID()}); err != nil {
		t.Fatalf("TransferLeadership through a follower with an admin certificate: %v", err)
	}
	testwait.For(t, 10*time.Second, "the follower to lead", func() bool {
		_, ok := fol.Node().LeaderTerm()
		return ok
	})
	if _, err := runTx(ctx, cl, p1, p2); err != nil {
		t.Fatalf("commit after the transfer: %v", err)
	}
	noViolations(t, p1, p2)
}

// A TLS node refuses a caller without a certificate, with one from another
// CA, and in plaintext; a caller with a certificate from its CA is served.
func TestTLSRefusesClientWithoutCertificate(t *testing.T) {
	ca, other := testpki.NewCA(t, "verdict test CA"), testpki.NewCA(t, "another CA")
	c := tlsCluster(t, 1, ca, nil)
	addr := c.leader().Addr()
	forged := ca.Client(t, "")
	forged.Certificates = []tls.Certificate{other.Issue(t, "mallory", AdminOU)}
	for name, sec := range map[string]*tls.Config{
		"no certificate":          ca.Client(t, ""),
		"certificate of wrong CA": forged,
		"plaintext":               nil,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := verdictv1.NewCoordinatorClient(connTo(t, addr, sec, "")).Begin(ctx, &verdictv1.BeginRequest{})
		cancel()
		if err == nil {
			t.Errorf("%s: Begin served", name)
		}
	}
	cl, err := client.Dial([]string{addr}, client.WithTLS(ca.Client(t, "initiator")))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tx, err := cl.Begin(callCtx(t))
	if err != nil {
		t.Fatalf("Begin with a valid certificate: %v", err)
	}
	if err := tx.Abort(callCtx(t), "test"); err != nil {
		t.Fatal(err)
	}
}

// Operator actions need the admin token or a certificate with the admin
// role; Status and Members need neither.
func TestAdminAuthorization(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	const token = "s3cret-admin-token"
	c := tlsCluster(t, 1, ca, func(cfg *Config) { cfg.AdminToken = token })
	addr := c.leader().Addr()
	unknown, _ := txid.New()
	ctx := callCtx(t)
	actions := map[string]func(verdictv1.AdminClient) error{
		"RetryTransaction": func(a verdictv1.AdminClient) error {
			_, err := a.RetryTransaction(ctx, &verdictv1.RetryTransactionRequest{Txid: unknown})
			return err
		},
		"AddMember": func(a verdictv1.AdminClient) error {
			_, err := a.AddMember(ctx, &verdictv1.AddMemberRequest{Id: 0, Address: "127.0.0.1:1"})
			return err
		},
		"RemoveMember": func(a verdictv1.AdminClient) error {
			_, err := a.RemoveMember(ctx, &verdictv1.RemoveMemberRequest{Id: 0})
			return err
		},
		"TransferLeadership": func(a verdictv1.AdminClient) error {
			_, err := a.TransferLeadership(ctx, &verdictv1.TransferLeadershipRequest{Id: 0})
			return err
		},
	}
	callers := []struct {
		name string
		sec  *tls.Config
		tok  string
		want codes.Code // OK: authorised; the calls' bad input answers
	}{
		{"participant certificate", ca.Client(t, "p1"), "", codes.PermissionDenied},
		{"participant certificate, wrong token", ca.Client(t, "p1"), "guess", codes.Unauthenticated},
		{"participant certificate, admin token", ca.Client(t, "p1"), token, codes.OK},
		{"admin certificate", ca.Client(t, "operator", AdminOU), "", codes.OK},
	}
	for _, caller := range callers {
		conn := connTo(t, addr, caller.sec, caller.tok)
		a := verdictv1.NewAdminClient(conn)
		for name, call := range actions {
			err := call(a)
			got := status.Code(err)
			if caller.want == codes.OK && (got == codes.PermissionDenied || got == codes.Unauthenticated) ||
				caller.want != codes.OK && got != caller.want {
				t.Errorf("%s: %s = %v, want %v", caller.name, name, err, caller.want)
			}
		}
		if _, err := a.Status(ctx, &verdictv1.StatusRequest{}); err != nil {
			t.Errorf("%s: Status = %v", caller.name, err)
		}
		if _, err := a.Members(ctx, &verdictv1.MembersRequest{}); err != nil {
			t.Errorf("%s: Members = %v", caller.name, err)
		}
		// Ordinary callers keep their Coordinator service.
		if _, err := verdictv1.NewCoordinatorClient(conn).ListTransactions(ctx, &verdictv1.ListTransactionsRequest{}); err != nil {
			t.Errorf("%s: ListTransactions = %v", caller.name, err)
		}
	}
}

// Without TLS, the admin token guards operator actions, also through a
// follower, which passes the token on to the leader.
func TestAdminTokenPlaintext(t *testing.T) {
	const token = "s3cret-admin-token"
	c := newTunedCluster(t, 3, func(cfg *Config) { cfg.AdminToken = token })
	lead, fol := c.leader(), c.follower()
	unknown, _ := txid.New()
	ctx := callCtx(t)
	for _, s := range []*Server{lead, fol} {
		for tok, want := range map[string]codes.Code{"": codes.Unauthenticated, "guess": codes.Unauthenticated, token: codes.NotFound} {
			a := verdictv1.NewAdminClient(connTo(t, s.Addr(), nil, tok))
			_, err := a.RetryTransaction(ctx, &verdictv1.RetryTransactionRequest{Txid: unknown})
			wantCode(t, fmt.Sprintf("node %d, token %q: RetryTransaction", s.Node().ID(), tok), err, want)
			if _, err := a.Status(ctx, &verdictv1.StatusRequest{}); err != nil {
				t.Errorf("node %d, token %q: Status = %v", s.Node().ID(), tok, err)
			}
			// The kept hashes are anyone's to read; a hash of the state
			// now (as costly as a snapshot) is an operator's.
			if _, err := a.StateHashes(ctx, &verdictv1.StateHashesRequest{}); err != nil {
				t.Errorf("node %d, token %q: StateHashes = %v", s.Node().ID(), tok, err)
			}
			want := want
			if want == codes.NotFound {
				want = codes.OK
			}
			_, err = a.StateHashes(ctx, &verdictv1.StateHashesRequest{Current: true})
			wantCode(t, fmt.Sprintf("node %d, token %q: StateHashes current", s.Node().ID(), tok), err, want)
		}
	}
}

// A node whose certificate comes from another CA never joins: the members
// refuse its connections and it refuses theirs, while a node with a good
// certificate, added after it, joins and becomes a voter.
func TestTLSPeerFromWrongCANeverJoins(t *testing.T) {
	ca, other := testpki.NewCA(t, "verdict test CA"), testpki.NewCA(t, "another CA")
	c := tlsCluster(t, 1, ca, func(cfg *Config) {
		if cfg.ID == 2 {
			cfg.TLS = other.Server(t, "node-2", NodeOU)
		}
	})
	admin := verdictv1.NewAdminClient(connTo(t, c.leader().Addr(), ca.Client(t, "operator", AdminOU), ""))
	intruder := c.addNode(admin, 2)
	good := c.addNode(admin, 3)
	lead := c.leader()
	testwait.For(t, 15*time.Second, "node 3 to be a voter at the leader and at node 3", func() bool {
		return isVoter(lead, 3) && isVoter(good, 3)
	})
	if st := intruder.Node().Status(); st.Leader != 0 || st.Applied != 0 {
		t.Errorf("node from another CA knows leader %d and applied %d entries", st.Leader, st.Applied)
	}
	for _, m := range lead.Node().Status().Members {
		if m.ID == 2 && (!m.Learner || m.Match != 0) {
			t.Errorf("leader sees the node from another CA as %+v", m)
		}
	}
}

// Start refuses TLS without the node role or without this node's id in
// the certificate, and plaintext on a non-loopback address unless allowed.
func TestTLSStartRefusesUnsafeConfig(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	base := Config{ID: 1, Peers: map[uint64]string{1: "127.0.0.1:0"}, DataDir: t.TempDir(), Logger: testLogger()}
	noRole := base
	noRole.TLS = ca.Server(t, "node-1")
	if s, err := Start(noRole); err == nil {
		s.Stop()
		t.Error("Start with a certificate without the node role succeeded")
	}
	for cn, why := range map[string]string{"node": "names no node id", "node-2": "names node id 2"} {
		cfg := base
		cfg.TLS = ca.Server(t, cn, NodeOU)
		if s, err := Start(cfg); err == nil || !strings.Contains(err.Error(), "verdict-node://1") {
			if err == nil {
				s.Stop()
			}
			t.Errorf("Start of node 1 with a certificate that %s = %v, want an error naming verdict-node://1", why, err)
		}
	}
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	public := base
	public.Listener, public.Peers = l, map[uint64]string{1: l.Addr().String()}
	if s, err := Start(public); !errors.Is(err, ErrPlaintextNotLoopback) {
		if err == nil {
			s.Stop()
		}
		t.Errorf("Start in plaintext on %s = %v, want %v", l.Addr(), err, ErrPlaintextNotLoopback)
	}

	// Allowed explicitly, it starts and warns, also that the admin token
	// alone does not protect a plaintext cluster.
	var logs bytes.Buffer
	public.InsecurePlaintext, public.AdminToken = true, "s3cret-admin-token"
	public.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := Start(public)
	if err != nil {
		t.Fatalf("Start with InsecurePlaintext: %v", err)
	}
	s.Stop()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "plaintext") {
		t.Errorf("no warning about plaintext logged: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "admin token without TLS") {
		t.Errorf("no warning about the admin token without TLS logged: %s", logs.String())
	}
}

// sendRaft sends m to the Raft service at addr from the local address
// from, in plaintext, and returns the stream's answer.
func sendRaft(t *testing.T, addr string, from net.IP, m *raftpb.Message) error {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}
	return sendRaftWith(t, addr, m, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", a)
		}))
}

// sendRaftWith sends m to the Raft service at addr on a connection dialed
// with opts, and returns the stream's answer.
func sendRaftWith(t *testing.T, addr string, m *raftpb.Message, opts ...grpc.DialOption) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := peerv1.NewRaftClient(conn).Send(callCtx(t))
	if err != nil {
		return err
	}
	if err := s.Send(&peerv1.RaftMessage{Data: data}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err = s.CloseAndRecv()
	return err
}

// In plaintext a node takes Raft messages from its members' IP addresses
// only (Linux routes all of 127/8 to the loopback interface, so a caller
// bound to 127.0.0.2 is a stranger to a cluster on 127.0.0.1): a forged
// proposal from elsewhere is refused, admin token or not, and a message
// from a member's address to another node id is dropped, the node serving
// on.
func TestPlaintextRaftOnlyFromMembers(t *testing.T) {
	c := newTunedCluster(t, 1, func(cfg *Config) { cfg.AdminToken = "s3cret-admin-token" })
	lead := c.leader()
	addr := lead.Addr()
	before := lead.Node().Status().Applied
	prop := &raftpb.Message{Type: raftpb.MsgProp.Enum(), From: new(uint64(2)), To: new(lead.Node().ID()),
		Entries: []*raftpb.Entry{{Data: []byte("forged record")}}}
	err := sendRaft(t, addr, net.IPv4(127, 0, 0, 2), prop)
	wantCode(t, "Raft.Send from 127.0.0.2", err, codes.PermissionDenied)

	wrong := &raftpb.Message{Type: raftpb.MsgApp.Enum(), From: new(uint64(2)), To: new(uint64(99)), Term: new(uint64(1 << 40)),
		Index: new(uint64(1 << 40)), Commit: new(uint64(1 << 40))}
	if err := sendRaft(t, addr, net.IPv4(127, 0, 0, 1), wrong); err != nil {
		t.Fatalf("Raft.Send from a member's address: %v", err)
	}
	if err := sendRaft(t, addr, net.IPv4(127, 0, 0, 1), prop); err != nil {
		t.Fatalf("Raft.Send of a proposal from a member's address: %v", err)
	}
	st := lead.Node().Status()
	if !st.LeaderReady || st.Applied != before {
		t.Errorf("after the messages: leader ready %v, applied %d (before %d): want ready, nothing applied", st.LeaderReady, st.Applied, before)
	}
	cl := verdictv1.NewCoordinatorClient(connTo(t, addr, nil, ""))
	if _, err := cl.Begin(callCtx(t), &verdictv1.BeginRequest{}); err != nil {
		t.Fatalf("Begin after the messages: %v", err)
	}
}
