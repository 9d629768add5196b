package coordinator

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/verdict-tx/verdict/internal/tlsconf"
)

// ErrPlaintextNotLoopback is wrapped (with ErrInvalidConfig) by the error of
// Start when a node would serve without TLS on an address other than
// loopback and Config.InsecurePlaintext does not allow it.
var ErrPlaintextNotLoopback = errors.New("refusing to serve plaintext on a non-loopback address")

// validateTransport checks the node's TLS settings and derives the dial
// options for peers and participants from them.
func (c *Config) validateTransport() error {
	if c.TLS == nil {
		addr := c.listenAddr()
		if c.Listener != nil {
			addr = c.Listener.Addr().String()
		}
		if !c.InsecurePlaintext && !isLoopback(addr) {
			return fmt.Errorf("%w: %w: %s: give the node a certificate (--tls-cert, --tls-key, --tls-ca), or allow plaintext explicitly (--insecure-plaintext)", ErrInvalidConfig, ErrPlaintextNotLoopback, addr)
		}
		return nil
	}
	leaf, err := tlsconf.Leaf(c.TLS)
	if err != nil {
		return fmt.Errorf("%w: TLS certificate (Certificates or GetCertificate): %w", ErrInvalidConfig, err)
	}
	if !hasRole(leaf, NodeOU) {
		return fmt.Errorf("%w: the node's certificate (CN %q) lacks the node role: its Subject OrganizationalUnit must contain %q", ErrInvalidConfig, leaf.Subject.CommonName, NodeOU)
	}
	// Peers take this node's Raft messages only from the id its
	// certificate names.
	if id, err := tlsconf.NodeID(leaf); err != nil || id != c.ID {
		if err == nil {
			err = fmt.Errorf("it names node id %d", id)
		}
		return fmt.Errorf("%w: the node's certificate (CN %q) must name this node's id %d in a URI subject alternative name %s: %w", ErrInvalidConfig, leaf.Subject.CommonName, c.ID, tlsconf.NodeURI(c.ID), err)
	}
	if c.TLS.ClientCAs == nil {
		return fmt.Errorf("%w: TLS configuration has no ClientCAs: the node verifies every caller's certificate against the CA", ErrInvalidConfig)
	}
	// Every caller must present a certificate signed by the CA.
	c.TLS = c.TLS.Clone()
	c.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	if c.TLS.MinVersion < tls.VersionTLS12 {
		c.TLS.MinVersion = tls.VersionTLS12
	}
	if len(c.DialOptions) == 0 {
		c.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(peerTLS(c.TLS)))}
	}
	return nil
}

// peerTLS is the client side of the node's TLS configuration, with which it
// dials peers and participants: its own certificate as client certificate
// (the current one, if it rotates through GetCertificate), servers
// verified against the CA that verifies its callers.
func peerTLS(server *tls.Config) *tls.Config {
	c := &tls.Config{
		MinVersion:   server.MinVersion,
		Certificates: server.Certificates,
		RootCAs:      server.ClientCAs,
	}
	if get := server.GetCertificate; get != nil && len(server.Certificates) == 0 {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return get(&tls.ClientHelloInfo{})
		}
	}
	return c
}

// serverCredentials is the gRPC server option for the node's transport.
func serverCredentials(cfg *Config) []grpc.ServerOption {
	if cfg.TLS == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg.TLS))}
}

// listenAddr is where the node listens when Config.Listener is nil:
// ListenAddr, with the port of Peers[ID] if it names a host alone.
func (c *Config) listenAddr() string {
	if c.ListenAddr == "" {
		return c.Peers[c.ID]
	}
	if _, _, err := net.SplitHostPort(c.ListenAddr); err == nil {
		return c.ListenAddr
	}
	if _, port, err := net.SplitHostPort(c.Peers[c.ID]); err == nil {
		return net.JoinHostPort(strings.Trim(c.ListenAddr, "[]"), port)
	}
	return c.ListenAddr
}

// isLoopback reports whether addr (host:port) can only be reached from
// this machine: "localhost" or a loopback IP. An empty host (every
// interface) and other names are not loopback; names are not resolved.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
