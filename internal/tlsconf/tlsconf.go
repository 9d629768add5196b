// Package tlsconf loads Verdict's TLS material from PEM files: a
// certificate and its key, and the certificate authority (CA) that signs
// every node, participant, initiator and operator certificate of a
// deployment. cmd/verdict and verdictctl use it; the SDKs take a
// *tls.Config and leave loading to the application.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files names the PEM files of one party. CA is required; Cert and Key go
// together (both or neither).
type Files struct {
	Cert string
	Key  string
	CA   string
}

// Empty reports whether no file is named: TLS is off.
func (f Files) Empty() bool { return f.Cert == "" && f.Key == "" && f.CA == "" }

// ErrIncomplete is wrapped by the errors of Files that name some files but
// not enough of them.
var ErrIncomplete = errors.New("verdict: incomplete TLS configuration")

// Server returns the configuration of a server that requires and verifies
// a client certificate signed by the CA (mutual TLS). Cert, Key and CA are
// all required. It is ServerRotating without a report.
func Server(f Files) (*tls.Config, error) { return ServerRotating(f, nil) }

// ServerRotating is Server whose certificate follows its files: once the
// certificate or key file changes (a renewed certificate written over the
// old one), the next handshake loads the pair again, as a server and, for
// a node, as the client certificate it dials its peers with (through
// GetCertificate: Certificates is empty). A pair that does not load, or
// whose certificate drops a role (OU) of the current one or names another
// node id, is not taken: the current pair stays. report, if not nil, hears of each reload: nil
// when the new pair was taken, else why not. The CA is read once: a new CA
// needs a restart.
func ServerRotating(f Files, report func(error)) (*tls.Config, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return nil, fmt.Errorf("%w: a server needs a certificate, its key and the CA (--tls-cert, --tls-key, --tls-ca)", ErrIncomplete)
	}
	pool, err := loadCA(f.CA)
	if err != nil {
		return nil, err
	}
	pair, err := newKeyPair(f.Cert, f.Key, report)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return pair.get() },
		ClientCAs:      pool,
		ClientAuth:     tls.RequireAndVerifyClientCert,
	}, nil
}

// Leaf returns the certificate c presents: its first Certificates entry,
// or GetCertificate's current one.
func Leaf(c *tls.Config) (*x509.Certificate, error) {
	var cert *tls.Certificate
	switch {
	case len(c.Certificates) > 0:
		cert = &c.Certificates[0]
	case c.GetCertificate != nil:
		var err error
		if cert, err = c.GetCertificate(&tls.ClientHelloInfo{}); err != nil {
			return nil, err
		}
	}
	if cert == nil || len(cert.Certificate) == 0 {
		return nil, errors.New("verdict: TLS configuration has no certificate")
	}
	return x509.ParseCertificate(cert.Certificate[0])
}

// Client returns the configuration of a client that verifies servers
// against the CA and presents its certificate, if Cert and Key are given.
func Client(f Files) (*tls.Config, error) {
	if f.CA == "" {
		return nil, fmt.Errorf("%w: a client needs the CA (--tls-ca) to verify servers", ErrIncomplete)
	}
	cert, pool, err := load(f)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c, nil
}

// load reads the CA pool and, when named, the key pair.
func load(f Files) (*tls.Certificate, *x509.CertPool, error) {
	if (f.Cert == "") != (f.Key == "") {
		return nil, nil, fmt.Errorf("%w: a certificate and its key go together (--tls-cert and --tls-key)", ErrIncomplete)
	}
	pool, err := loadCA(f.CA)
	if err != nil {
		return nil, nil, err
	}
	if f.Cert == "" {
		return nil, pool, nil
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("verdict: TLS key pair: %w", err)
	}
	return &cert, pool, nil
}

// loadCA reads the CA's PEM certificates into a pool.
func loadCA(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("verdict: TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("verdict: TLS CA %s holds no PEM certificate", file)
	}
	return pool, nil
}
