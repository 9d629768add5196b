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
