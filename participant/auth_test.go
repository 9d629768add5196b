package participant

import (
	"crypto/tls"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/testpki"
	"github.com/verdict-tx/verdict/internal/tlsconf"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// participantAs is a Participant client of the server at addr over TLS
// with sec.
func participantAs(t *testing.T, addr string, sec *tls.Config) verdictv1.ParticipantClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(sec)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return verdictv1.NewParticipantClient(cc)
}

// Over TLS the Participant service answers only the node role: an
// initiator's or another participant's certificate (same CA) may neither
// prepare nor decide, and a caller without a certificate is
// Unauthenticated; the refused Abort fences nothing, and the coordinator's
// Commit still commits.
func TestParticipantServiceNeedsNodeCertificate(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	res := NewMemResource()
	srv, err := NewServer(Config{Name: "p1", Address: "127.0.0.1:9000", Resource: res, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	// Certificates are verified if given, so that a caller may come
	// without one (a server requiring them refuses it in the handshake).
	srvTLS := ca.Server(t, "p1")
	srvTLS.ClientAuth = tls.VerifyClientCertIfGiven
	addr := serve(t, func(g *grpc.Server) { srv.Register(g) }, grpc.Creds(credentials.NewTLS(srvTLS)))

	node := participantAs(t, addr, ca.Client(t, "node-1", tlsconf.NodeOU))
	ctx := testContext(t)
	id := newTxID(t)
	if err := res.Stage(id, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if resp, err := node.Prepare(ctx, &verdictv1.PrepareRequest{Txids: []string{id}}); err != nil || resp.GetVotes()[0].GetVote() != verdictv1.Vote_VOTE_YES {
		t.Fatalf("Prepare with a node certificate = %v, %v; want a YES vote", resp, err)
	}

	for _, tt := range []struct {
		name string
		sec  *tls.Config
		want codes.Code
	}{
		{"initiator certificate", ca.Client(t, "initiator"), codes.PermissionDenied},
		{"participant certificate", ca.Client(t, "p2"), codes.PermissionDenied},
		{"admin certificate", ca.Client(t, "operator", tlsconf.AdminOU), codes.PermissionDenied},
		{"no certificate", ca.Client(t, ""), codes.Unauthenticated},
	} {
		p := participantAs(t, addr, tt.sec)
		_, err := p.Abort(ctx, decision(id))
		if got := status.Code(err); got != tt.want {
			t.Errorf("%s: Abort = %v, want %v", tt.name, err, tt.want)
		}
		_, err = p.Commit(ctx, decision(id))
		if got := status.Code(err); got != tt.want {
			t.Errorf("%s: Commit = %v, want %v", tt.name, err, tt.want)
		}
		_, err = p.Prepare(ctx, &verdictv1.PrepareRequest{Txids: []string{newTxID(t)}})
		if got := status.Code(err); got != tt.want {
			t.Errorf("%s: Prepare = %v, want %v", tt.name, err, tt.want)
		}
	}
	if srv.isFenced(id) || res.State(id) != TxPrepared {
		t.Fatalf("after refused calls: fenced %v, state %v; want unfenced, prepared", srv.isFenced(id), res.State(id))
	}

	if _, err := node.Commit(ctx, decision(id)); err != nil {
		t.Fatalf("Commit with a node certificate: %v", err)
	}
	if v, _ := res.Get("k"); v != "v" || res.State(id) != TxCommitted {
		t.Errorf("after the node's Commit: k = %q, state %v; want v, committed", v, res.State(id))
	}
	if vs := res.Violations(); len(vs) != 0 {
		t.Errorf("violations: %v", vs)
	}
}
