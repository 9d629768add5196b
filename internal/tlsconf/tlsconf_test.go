package tlsconf_test

import (
	"crypto/tls"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/verdict-tx/verdict/internal/testpki"
	"github.com/verdict-tx/verdict/internal/tlsconf"
)

func TestLoad(t *testing.T) {
	f := testpki.NewCA(t, "verdict test CA").Files(t, "node-1", "verdict-node")
	srv, err := tlsconf.Server(f)
	if err != nil {
		t.Fatal(err)
	}
	if srv.ClientAuth != tls.RequireAndVerifyClientCert || srv.ClientCAs == nil {
		t.Errorf("server config does not require verified client certificates: %+v", srv)
	}
	if leaf, err := tlsconf.Leaf(srv); err != nil || leaf.Subject.CommonName != "node-1" {
		t.Errorf("server certificate: %v, %v; want node-1's", leaf, err)
	}
	cli, err := tlsconf.Client(tlsconf.Files{CA: f.CA})
	if err != nil {
		t.Fatal(err)
	}
	if cli.RootCAs == nil || len(cli.Certificates) != 0 {
		t.Errorf("client config without certificate: %+v", cli)
	}
	for _, tt := range []struct {
		name  string
		load  func(tlsconf.Files) (*tls.Config, error)
		files tlsconf.Files
	}{
		{"server without CA", tlsconf.Server, tlsconf.Files{Cert: f.Cert, Key: f.Key}},
		{"server without key", tlsconf.Server, tlsconf.Files{Cert: f.Cert, CA: f.CA}},
		{"client without CA", tlsconf.Client, tlsconf.Files{Cert: f.Cert, Key: f.Key}},
		{"client without key", tlsconf.Client, tlsconf.Files{Cert: f.Cert, CA: f.CA}},
	} {
		if _, err := tt.load(tt.files); !errors.Is(err, tlsconf.ErrIncomplete) {
			t.Errorf("%s: %v, want ErrIncomplete", tt.name, err)
		}
	}
	if _, err := tlsconf.Server(tlsconf.Files{Cert: f.Cert, Key: f.Key, CA: f.Cert + ".absent"}); err == nil {
		t.Error("missing CA file loaded")
	}
}

// TestDialNodes runs real TLS handshakes on 127.0.0.1: a client made by
// DialNodes accepts a server with the node role and refuses one whose
// certificate, though signed by the same CA, lacks it.
func TestDialNodes(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	handshake := func(serverOUs ...string) error {
		srv := ca.Server(t, "server", serverOUs...)
		l, err := tls.Listen("tcp", "127.0.0.1:0", srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}()
		c, err := tls.Dial("tcp", l.Addr().String(), tlsconf.DialNodes(ca.Client(t, "client")))
		if err != nil {
			return err
		}
		return c.Close()
	}
	if err := handshake(tlsconf.NodeOU); err != nil {
		t.Fatalf("handshake with a node: %v", err)
	}
	for _, ous := range [][]string{nil, {tlsconf.AdminOU}, {"orders"}} {
		if err := handshake(ous...); !errors.Is(err, tlsconf.ErrNotNode) {
			t.Errorf("server with OUs %v: %v, want ErrNotNode", ous, err)
		}
	}
}

// TestServerRotating renews a server's certificate by writing new files
// over the old ones: the next handshake presents the new one. A renewal
// that drops a role or names another node id, or a certificate whose key
// does not match, is not taken: the current certificate stays, and the
// report says why.
func TestServerRotating(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	f := ca.Files(t, "node-1", tlsconf.NodeOU)
	var reports []error
	srv, err := tlsconf.ServerRotating(f, func(err error) { reports = append(reports, err) })
	if err != nil {
		t.Fatal(err)
	}
	// served is the serial number of the certificate a handshake sees.
	served := func() string {
		l, err := tls.Listen("tcp", "127.0.0.1:0", srv)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			if c, err := l.Accept(); err == nil {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		c, err := tls.Dial("tcp", l.Addr().String(), ca.Client(t, "client"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	// install writes the certificate and key files src names over the
	// server's.
	install := func(cert, key string) {
		for dst, src := range map[string]string{f.Cert: cert, f.Key: key} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			testpki.WriteNewer(t, dst, b)
		}
	}
	first := served()
	if served() != first || len(reports) != 0 {
		t.Fatalf("unchanged files reloaded: %v", reports)
	}

	ca.Renew(t, f, "node-1", tlsconf.NodeOU)
	second := served()
	if second == first || len(reports) != 1 || reports[0] != nil {
		t.Fatalf("after renewal: serial %s (was %s), reports %v; want the new certificate", second, first, reports)
	}

	ca.Renew(t, f, "node-1") // without the role
	if got := served(); got != second || len(reports) != 2 || reports[1] == nil || !strings.Contains(reports[1].Error(), tlsconf.NodeOU) {
		t.Fatalf("after a renewal without the node role: serial %s, reports %v; want the current certificate kept", got, reports)
	}
	ca.Renew(t, f, "node-2", tlsconf.NodeOU) // another node id
	if got := served(); got != second || len(reports) != 3 || reports[2] == nil || !strings.Contains(reports[2].Error(), "verdict-node://1") {
		t.Fatalf("after a renewal naming another node id: serial %s, reports %v; want the current certificate kept", got, reports)
	}

	other := ca.Files(t, "node-1", tlsconf.NodeOU)
	mismatched := ca.Files(t, "node-1", tlsconf.NodeOU)
	install(other.Cert, mismatched.Key) // the key of another certificate
	if got := served(); got != second || len(reports) != 4 || reports[3] == nil {
		t.Fatalf("after a mismatched pair: serial %s, reports %v; want the current certificate kept", got, reports)
	}
	install(other.Cert, other.Key) // the key follows: taken
	if got := served(); got == second || reports[len(reports)-1] != nil {
		t.Fatalf("after the matching key: serial %s, reports %v; want the new certificate", got, reports)
	}
}
