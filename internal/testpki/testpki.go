// Package testpki makes certificate authorities and certificates for tests:
// a CA, and certificates it signs for 127.0.0.1 and localhost with the
// roles (Subject OrganizationalUnit) a test needs, as tls.Configs or as PEM
// files in a test's temporary directory.
//
// A certificate with the node role (tlsconf.NodeOU) whose Common Name is
// node-<id>, such as node-3, names that node id as a deployment's node
// certificates must: a URI subject alternative name verdict-node://<id>
// (tlsconf.NodeURI). One with the node role and another Common Name names
// no node id: a node refuses to serve with it, and its peers refuse its
// Raft messages.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/internal/tlsconf"
)

// CA is a test certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// Pool holds the CA's certificate.
	Pool *x509.CertPool
	// PEM is the CA's certificate.
	PEM []byte
}

// NewCA makes a CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, Pool: pool, PEM: pemBlock("CERTIFICATE", der)}
}

// Issue signs a certificate for cn with the roles ous, valid for servers
// and clients at 127.0.0.1 and localhost; a node certificate for
// node-<id> names that node id.
func (ca *CA) Issue(t testing.TB, cn string, ous ...string) tls.Certificate {
	t.Helper()
	certPEM, keyPEM := ca.issuePEM(t, cn, ous)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// Server is a mutual-TLS server configuration: a certificate for cn with
// roles ous, and client certificates verified against the CA.
func (ca *CA) Server(t testing.TB, cn string, ous ...string) *tls.Config {
	t.Helper()
	return &tls.Config{
		Certificates: []tls.Certificate{ca.Issue(t, cn, ous...)},
		ClientCAs:    ca.Pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}

// Client is a client configuration that verifies servers against the CA
// and presents a certificate for cn with roles ous; none when cn is empty.
func (ca *CA) Client(t testing.TB, cn string, ous ...string) *tls.Config {
	t.Helper()
	c := &tls.Config{RootCAs: ca.Pool}
	if cn != "" {
		c.Certificates = []tls.Certificate{ca.Issue(t, cn, ous...)}
	}
	return c
}

// Files writes a certificate for cn with roles ous, its key and the CA's
// certificate into a temporary directory of t, and names them.
func (ca *CA) Files(t testing.TB, cn string, ous ...string) tlsconf.Files {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM := ca.issuePEM(t, cn, ous)
	f := tlsconf.Files{
		Cert: filepath.Join(dir, cn+".pem"),
		Key:  filepath.Join(dir, cn+"-key.pem"),
		CA:   filepath.Join(dir, "ca.pem"),
	}
	for path, b := range map[string][]byte{f.Cert: certPEM, f.Key: keyPEM, f.CA: ca.PEM} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// Renew writes a new certificate for cn with roles ous and its key over
// f's certificate and key files, dated a second after their current
// modification time, as an operator renewing a certificate would.
func (ca *CA) Renew(t testing.TB, f tlsconf.Files, cn string, ous ...string) {
	t.Helper()
	certPEM, keyPEM := ca.issuePEM(t, cn, ous)
	WriteNewer(t, f.Cert, certPEM)
	WriteNewer(t, f.Key, keyPEM)
}

// WriteNewer writes b over path and dates it a second after path's current
// modification time, so that a change is seen even on a coarse clock.
func WriteNewer(t testing.TB, path string, b []byte) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	next := st.ModTime().Add(time.Second)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
}

func (ca *CA) issuePEM(t testing.TB, cn string, ous []string) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn, OrganizationalUnit: ous},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		URIs:         nodeURIs(cn, ous),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", keyDER)
}

// nodeURIs names node id in a certificate for cn "node-<id>" with the node
// role.
func nodeURIs(cn string, ous []string) []*url.URL {
	id, err := strconv.ParseUint(strings.TrimPrefix(cn, "node-"), 10, 64)
	if !strings.HasPrefix(cn, "node-") || err != nil || id == 0 || !slices.Contains(ous, tlsconf.NodeOU) {
		return nil
	}
	return []*url.URL{tlsconf.NodeURI(id)}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
