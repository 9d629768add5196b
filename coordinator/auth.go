package coordinator

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/bearer"
	"github.com/verdict-tx/verdict/internal/tlsconf"
	"github.com/verdict-tx/verdict/txlog"
)

// AdminOU is the admin role of a client certificate: a certificate signed
// by the deployment's CA whose Subject OrganizationalUnit contains AdminOU
// may call every Admin RPC, as may a caller presenting Config.AdminToken.
// It is tlsconf.AdminOU, which the participant SDK shares.
const AdminOU = tlsconf.AdminOU

// NodeOU is the node role of a certificate: under TLS, every node's
// certificate must carry it in its Subject OrganizationalUnit, and name the
// node's id (tlsconf.NodeURI). Only callers with it may send Raft messages
// (as the node id their certificate names), and a forwarded request (its
// admin authorisation and the client it names) is believed only from them;
// participants serve their Participant service only to it. It is
// tlsconf.NodeOU, which the participant SDK shares.
const NodeOU = tlsconf.NodeOU

const (
	adminService = "/verdict.v1.Admin/"
	raftService  = "/verdict.peer.v1.Raft/"
)

// readOnlyAdmin lists the Admin RPCs that need no admin credential: they
// only describe the cluster (members, leader, Raft progress), which every
// SDK and monitor may read. Every other Admin RPC, including any added
// later, requires the admin role.
var readOnlyAdmin = []string{
	adminService + "Status",
	adminService + "Members",
	adminService + "StateHashes",
}

// mdClient carries, on a request a follower forwards to the leader, the
// identity of the client that made it. The leader believes it only from a
// member node (see auth.fromMember).
const mdClient = "verdict-client"

// auth authorises calls and names their callers. Without an admin token
// and without TLS (the loopback default) every RPC is open: nothing could
// tell an operator from anyone else.
type auth struct {
	token []byte // nil: no admin token configured
	tls   bool
	// members returns the members' addresses (host:port).
	members func() []string
}

// newAuth is the authority of a node: the members it trusts to forward are
// those of its configuration and those the Raft group knows.
func newAuth(cfg *Config, node *txlog.Node) *auth {
	a := &auth{tls: cfg.TLS != nil}
	if cfg.AdminToken != "" {
		a.token = []byte(cfg.AdminToken)
	}
	a.members = func() []string {
		addrs := make([]string, 0, len(cfg.Peers))
		for _, addr := range cfg.Peers {
			addrs = append(addrs, addr)
		}
		for _, m := range node.Status().Members {
			addrs = append(addrs, m.Address)
		}
		return addrs
	}
	return a
}

func (a *auth) open() bool { return a.token == nil && !a.tls }

func (a *auth) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := a.authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (a *auth) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := a.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// authorize lets a call to method through, or answers Unauthenticated (no
// or a wrong credential) or PermissionDenied (a certificate without the
// role the method needs).
func (a *auth) authorize(ctx context.Context, method string) error {
	if strings.HasPrefix(method, raftService) {
		return a.authorizePeer(ctx, method)
	}
	if !strings.HasPrefix(method, adminService) || slices.Contains(readOnlyAdmin, method) {
		return nil
	}
	return a.adminOnly(ctx, method)
}

// adminOnly lets a call through for callers with the admin role only;
// method names it in errors (a method, or a costly form of a read-only
// one).
func (a *auth) adminOnly(ctx context.Context, method string) error {
	if a.open() {
		return nil
	}
	cert := peerCert(ctx)
	if hasRole(cert, AdminOU) {
		return nil
	}
	if a.tls && a.fromMember(ctx) {
		return nil // the follower that forwarded it has authorised it
	}
	if tok, ok := bearer.FromIncoming(ctx); ok {
		if a.token != nil && subtle.ConstantTimeCompare([]byte(tok), a.token) == 1 {
			return nil
		}
		return status.Errorf(codes.Unauthenticated, "verdict: %s: the admin token is not valid", method)
	}
	if cert != nil {
		return status.Errorf(codes.PermissionDenied, "verdict: %s needs the admin role: a certificate with OU %q or the admin token; certificate %q has neither", method, AdminOU, cert.Subject.CommonName)
	}
	return status.Errorf(codes.Unauthenticated, "verdict: %s needs the admin token (metadata authorization: Bearer ...)", method)
}

// authorizePeer lets a call to the Raft service through from member nodes
// only: under TLS, callers with a node certificate (NodeOU); in plaintext,
// callers from a member's IP address. Plaintext authenticates no one: the
// rule keeps out whoever merely reaches the port (a forged proposal would
// append any record, a conf change or a COMMIT decision, bypassing the
// admin token), but not someone on a member's host or spoofing its
// address; a plaintext cluster relies on its network being isolated.
func (a *auth) authorizePeer(ctx context.Context, method string) error {
	if a.tls {
		if !hasRole(peerCert(ctx), NodeOU) {
			return status.Errorf(codes.PermissionDenied, "verdict: %s is for member nodes: a certificate with OU %q", method, NodeOU)
		}
		return nil
	}
	if !a.fromMemberAddress(ctx) {
		return status.Errorf(codes.PermissionDenied, "verdict: %s is for member nodes: %s is no member's address", method, peerHost(ctx))
	}
	return nil
}

// identity names the client of a call, for per-client limits: the Common
// Name of its certificate under TLS, its IP address otherwise; on a
// forwarded call from a member, the client the follower named.
func (a *auth) identity(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(mdClient); len(v) == 1 && a.fromMember(ctx) {
			return v[0]
		}
	}
	if cert := peerCert(ctx); cert != nil {
		if cert.Subject.CommonName == "" {
			return "subject:" + cert.Subject.String()
		}
		return "cn:" + cert.Subject.CommonName
	}
	return "ip:" + peerHost(ctx)
}

// fromMember reports whether a call was forwarded by a member node: marked
// forwarded, and, under TLS, made with a node certificate (NodeOU); in
// plaintext, from a member's IP address (plaintext authenticates no one:
// see authorizePeer).
func (a *auth) fromMember(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get(mdForwarded)) == 0 {
		return false
	}
	if a.tls {
		return hasRole(peerCert(ctx), NodeOU)
	}
	return a.fromMemberAddress(ctx)
}

// memberLookup bounds the name resolution of a member's address.
const memberLookup = 2 * time.Second

// fromMemberAddress reports whether a call came from the IP address of a
// member: the host of a member's address, or an address a host name there
// resolves to.
func (a *auth) fromMemberAddress(ctx context.Context) bool {
	from := net.ParseIP(peerHost(ctx))
	if from == nil {
		return false
	}
	var names []string
	for _, addr := range a.members() {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); ip != nil {
			if ip.Equal(from) {
				return true
			}
			continue
		}
		names = append(names, host)
	}
	if len(names) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, memberLookup)
	defer cancel()
	for _, host := range names {
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			continue
		}
		if slices.ContainsFunc(ips, func(ip net.IPAddr) bool { return ip.IP.Equal(from) }) {
			return true
		}
	}
	return false
}

// hasRole reports whether cert's Subject OrganizationalUnit holds role.
func hasRole(cert *x509.Certificate, role string) bool { return tlsconf.HasRole(cert, role) }

// forwardContext is the outgoing context of a request this follower sends
// to the leader: marked forwarded, naming the client, and carrying the
// client's admin token if it sent one.
func (a *auth) forwardContext(ctx context.Context) context.Context {
	kv := []string{mdForwarded, "1", mdClient, a.identity(ctx)}
	if tok, ok := bearer.FromIncoming(ctx); ok {
		kv = append(kv, bearer.Header, bearer.Value(tok))
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

// peerCert is the verified client certificate of a call; nil without TLS.
func peerCert(ctx context.Context) *x509.Certificate { return tlsconf.PeerCert(ctx) }

// peerHost is the IP address a call came from.
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return p.Addr.String()
	}
	return host
}
