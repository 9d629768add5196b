package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"slices"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// The roles of a certificate: one CA signs every certificate of a
// deployment, and the Subject OrganizationalUnit (OU) says what its holder
// may do.
const (
	// NodeOU is the node role: every coordinator node's certificate must
	// carry it. Only callers with it may send Raft messages, are believed
	// when they forward a request, and may call a participant's
	// Participant service (Prepare, Commit, Abort).
	NodeOU = "verdict-node"
	// AdminOU is the admin role: its holder may call every Admin RPC.
	AdminOU = "verdict-admin"
)

// PeerCert is the verified client certificate of a gRPC call: nil if the
// call did not come over TLS, or came without a certificate that the
// server verified.
func PeerCert(ctx context.Context) *x509.Certificate {
	ti, ok := peerTLS(ctx)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return ti.State.VerifiedChains[0][0]
}

// OverTLS reports whether a gRPC call came over TLS, with or without a
// client certificate.
func OverTLS(ctx context.Context) bool {
	_, ok := peerTLS(ctx)
	return ok
}

func peerTLS(ctx context.Context) (credentials.TLSInfo, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return credentials.TLSInfo{}, false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	return ti, ok
}

// HasRole reports whether cert's Subject OrganizationalUnit holds role.
func HasRole(cert *x509.Certificate, role string) bool {
	return cert != nil && slices.Contains(cert.Subject.OrganizationalUnit, role)
}

// ErrNotNode is returned by the TLS handshake of a configuration from
// DialNodes when the server's certificate lacks the node role.
var ErrNotNode = errors.New("verdict: the server's certificate lacks the node role (OU " + NodeOU + "): it is not a Verdict coordinator node")

// DialNodes returns a copy of c for dialing coordinator nodes: on top of
// the usual verification against c's RootCAs, the server's certificate
// must carry the node role. Any certificate the deployment's CA signed is
// valid for TLS alone, so without this an initiator's or a participant's
// certificate could pose as a coordinator (and answer Outcome) to whoever
// is sent its address.
func DialNodes(c *tls.Config) *tls.Config {
	c = c.Clone()
	verify := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if verify != nil {
			if err := verify(cs); err != nil {
				return err
			}
		}
		if len(cs.PeerCertificates) == 0 || !HasRole(cs.PeerCertificates[0], NodeOU) {
			return ErrNotNode
		}
		return nil
	}
	return c
}
