package coordinator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/bearer"
	"github.com/verdict-tx/verdict/internal/testpki"
	peerv1 "github.com/verdict-tx/verdict/proto/verdict/peer/v1"
)

// callFrom is the context of a call from 127.0.0.1 with the verified
// certificate cert (none if nil) and metadata kv.
func callFrom(t *testing.T, cert *tls.Certificate, kv ...string) context.Context {
	t.Helper()
	return callFromIP(t, net.IPv4(127, 0, 0, 1), cert, kv...)
}

// callFromIP is callFrom from the address ip.
func callFromIP(t *testing.T, ip net.IP, cert *tls.Certificate, kv ...string) context.Context {
	t.Helper()
	p := &peer.Peer{Addr: &net.TCPAddr{IP: ip, Port: 50000}}
	if cert != nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		p.AuthInfo = credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}}
	}
	return metadata.NewIncomingContext(peer.NewContext(context.Background(), p), metadata.Pairs(kv...))
}

// The rule: every Admin method, also one added later, needs the admin role
// except the read-only allowlist; Raft needs the node role under TLS; a
// forwarded call is believed from a node certificate only.
func TestAuthRules(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	node, admin, part := ca.Issue(t, "node-2", NodeOU), ca.Issue(t, "operator", AdminOU), ca.Issue(t, "p1")
	a := &auth{tls: true, token: []byte("tok"), members: func() []string { return []string{"127.0.0.1:7401"} }}
	fwd := []string{mdForwarded, "1"}
	for _, tt := range []struct {
		name   string
		ctx    context.Context
		method string
		want   codes.Code
	}{
		{"participant: Begin", callFrom(t, &part), "/verdict.v1.Coordinator/Begin", codes.OK},
		{"participant: Status", callFrom(t, &part), "/verdict.v1.Admin/Status", codes.OK},
		{"participant: Members", callFrom(t, &part), "/verdict.v1.Admin/Members", codes.OK},
		{"participant: Retry", callFrom(t, &part), "/verdict.v1.Admin/RetryTransaction", codes.PermissionDenied},
		{"participant: a future admin RPC", callFrom(t, &part), "/verdict.v1.Admin/ForgetTransaction", codes.PermissionDenied},
		{"participant posing as forwarder", callFrom(t, &part, fwd...), "/verdict.v1.Admin/AbortTransaction", codes.PermissionDenied},
		{"participant: Raft", callFrom(t, &part), peerv1.Raft_Send_FullMethodName, codes.PermissionDenied},
		{"participant, token", callFrom(t, &part, bearer.Header, bearer.Value("tok")), "/verdict.v1.Admin/AddMember", codes.OK},
		{"participant, wrong token", callFrom(t, &part, bearer.Header, bearer.Value("tok2")), "/verdict.v1.Admin/AddMember", codes.Unauthenticated},
		{"admin certificate", callFrom(t, &admin), "/verdict.v1.Admin/AbortTransaction", codes.OK},
		{"node, forwarded", callFrom(t, &node, fwd...), "/verdict.v1.Admin/RemoveMember", codes.OK},
		{"node, not forwarded", callFrom(t, &node), "/verdict.v1.Admin/RemoveMember", codes.PermissionDenied},
		{"node: Raft", callFrom(t, &node), peerv1.Raft_Send_FullMethodName, codes.OK},
	} {
		if got := status.Code(a.authorize(tt.ctx, tt.method)); got != tt.want {
			t.Errorf("%s: %s answered %v, want %v", tt.name, tt.method, got, tt.want)
		}
	}

	// Plaintext: the token alone authorises; a forwarded mark does not.
	plain := &auth{token: []byte("tok"), members: a.members}
	if got := status.Code(plain.authorize(callFrom(t, nil, fwd...), "/verdict.v1.Admin/RetryTransaction")); got != codes.Unauthenticated {
		t.Errorf("plaintext forwarded call without token: %v, want Unauthenticated", got)
	}
	if err := (&auth{members: a.members}).authorize(callFrom(t, nil), "/verdict.v1.Admin/RetryTransaction"); err != nil {
		t.Errorf("no token and no TLS: admin RPCs are open, got %v", err)
	}

	// Plaintext Raft: from a member's IP address only, token or not; a
	// member named by a host name counts by the addresses it resolves to.
	stranger := net.IPv4(127, 0, 0, 2)
	named := &auth{members: func() []string { return []string{"localhost:7401"} }}
	for _, tt := range []struct {
		name string
		a    *auth
		ctx  context.Context
		want codes.Code
	}{
		{"member address", plain, callFrom(t, nil), codes.OK},
		{"other address", plain, callFromIP(t, stranger, nil), codes.PermissionDenied},
		{"other address, open node", &auth{members: a.members}, callFromIP(t, stranger, nil), codes.PermissionDenied},
		{"other address with the token", plain, callFromIP(t, stranger, nil, bearer.Header, bearer.Value("tok")), codes.PermissionDenied},
		{"member named localhost", named, callFrom(t, nil), codes.OK},
		{"other address, member named localhost", named, callFromIP(t, stranger, nil), codes.PermissionDenied},
	} {
		if got := status.Code(tt.a.authorize(tt.ctx, peerv1.Raft_Send_FullMethodName)); got != tt.want {
			t.Errorf("plaintext Raft, %s: %v, want %v", tt.name, got, tt.want)
		}
	}

	// Identity: the certificate's CN; a forwarded client name only from a node.
	for _, tt := range []struct {
		ctx  context.Context
		want string
	}{
		{callFrom(t, &part), "cn:p1"},
		{callFrom(t, &part, mdForwarded, "1", mdClient, "cn:someone-else"), "cn:p1"},
		{callFrom(t, &node, mdForwarded, "1", mdClient, "cn:initiator"), "cn:initiator"},
	} {
		if got := a.identity(tt.ctx); got != tt.want {
			t.Errorf("identity = %q, want %q", got, tt.want)
		}
	}
	if got := plain.identity(callFrom(t, nil)); got != "ip:127.0.0.1" {
		t.Errorf("plaintext identity = %q, want ip:127.0.0.1", got)
	}

	// The audit: the identity a forwarded request carries only from a
	// member (the rule of auth.fromMember), else the operator name with
	// the caller's address and, under TLS, its certificate.
	long := strings.Repeat("x", maxOperatorBytes+1)
	for _, tt := range []struct {
		name     string
		a        *auth
		ctx      context.Context
		operator string
		want     string // "" for InvalidArgument
	}{
		{"admin certificate", a, callFrom(t, &admin), "alice", "alice from 127.0.0.1:50000, certificate cn:operator"},
		{"admin certificate, no name", a, callFrom(t, &admin), "", "anonymous from 127.0.0.1:50000, certificate cn:operator"},
		{"node, forwarded", a, callFrom(t, &node, fwd...), "alice from 10.0.0.9:4000, certificate cn:operator", "alice from 10.0.0.9:4000, certificate cn:operator"},
		{"participant posing as forwarder", a, callFrom(t, &part, fwd...), "root from 10.0.0.1:1", "root from 10.0.0.1:1 from 127.0.0.1:50000, certificate cn:p1"},
		{"admin certificate posing as forwarder", a, callFrom(t, &admin, fwd...), "root", "root from 127.0.0.1:50000, certificate cn:operator"},
		{"plaintext, forwarded from a member", plain, callFrom(t, nil, fwd...), "alice from 10.0.0.9:4000", "alice from 10.0.0.9:4000"},
		{"plaintext, forwarded from a stranger", plain, callFromIP(t, stranger, nil, fwd...), "root", "root from 127.0.0.2:50000"},
		{"plaintext, not forwarded", plain, callFrom(t, nil), "bob", "bob from 127.0.0.1:50000"},
		{"name too long", a, callFrom(t, &admin), long, ""},
		{"control characters", a, callFrom(t, &admin), "bob\nforged line", ""},
		{"node, forwarded, longer than a name", a, callFrom(t, &node, fwd...), long, long},
	} {
		got, err := tt.a.callerIdentity(tt.ctx, tt.operator)
		switch {
		case tt.want == "" && status.Code(err) != codes.InvalidArgument:
			t.Errorf("audit, %s: %q, %v; want InvalidArgument", tt.name, got, err)
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("audit, %s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}
