package tlsconf_test

import (
	"crypto/tls"
	"errors"
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
	if srv.ClientAuth != tls.RequireAndVerifyClientCert || srv.ClientCAs == nil || len(srv.Certificates) != 1 {
		t.Errorf("server config does not require verified client certificates: %+v", srv)
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
